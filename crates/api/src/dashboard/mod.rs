//! The built-in dashboard (placeholder while being written).
use crate::router::Router;
pub fn register(_router: &mut Router) {}
