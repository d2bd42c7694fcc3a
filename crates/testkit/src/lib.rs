//! Test harness: brings the local stack up and gives each test its own topic and database
