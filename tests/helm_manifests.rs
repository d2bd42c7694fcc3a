//! Renders the Helm chart in `helm/mailpulse` with helm v3.8.1 and checks what Kubernetes would
//! be given: probes, security contexts, env and Secret wiring, the spool volume, autoscaling,
//! hook Jobs, ServiceMonitors, and that the rendered config file loads with the real config
//! loader under the env each pod gets.
//!
//! helm comes from `scripts/helm-check --fetch-only` (the one place that knows how to fetch it;
//! cached after the first run) or from `MAILPULSE_HELM`. If it cannot be obtained every test
//! fails with the reason: these tests never skip.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use mailpulse_config::Config;
use serde_yaml::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const RELEASE: &str = "mailpulse";

/// Env the chart sets for config keys that other work is adding to `mailpulse-config`
/// (`api.admin_keys`). The loader refuses unknown keys, so they are left out when a pod's env is
/// fed to it; drop an entry once its key exists.
const AWAITING_CONFIG_KEYS: &[&str] = &["MAILPULSE_API_ADMIN_KEYS"];

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        if let Some(path) = std::env::var_os("MAILPULSE_HELM") {
            return PathBuf::from(path);
        }
        let script = Path::new(ROOT).join("scripts/helm-check");
        let output = Command::new("bash")
            .arg(&script)
            .arg("--fetch-only")
            .output()
            .unwrap_or_else(|e| panic!("cannot run `bash {}`: {e}", script.display()));
        assert!(
            output.status.success(),
            "cannot obtain helm via scripts/helm-check --fetch-only:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
        assert!(
            Path::new(&path).is_file(),
            "scripts/helm-check printed `{path}`, which is not a file"
        );
        PathBuf::from(path)
    })
}

fn chart_file(relative: &str) -> PathBuf {
    Path::new(ROOT).join("helm/mailpulse").join(relative)
}

/// Runs `helm template` over the given values files plus `overrides` (YAML, applied last).
fn helm_template(files: &[PathBuf], overrides: &str) -> std::process::Output {
    let mut override_file = tempfile::NamedTempFile::new().expect("create a values file");
    override_file
        .write_all(overrides.as_bytes())
        .expect("write the values file");
    let mut command = Command::new(helm());
    command
        .args(["template", RELEASE])
        .arg(chart_file(""))
        .args(["--namespace", "mailpulse"]);
    for file in files {
        command.arg("-f").arg(file);
    }
    command.arg("-f").arg(override_file.path());
    command.output().expect("run helm template")
}

/// Renders ci/minimal-values.yaml plus `overrides`; panics with helm's message on failure.
fn render(overrides: &str) -> Manifests {
    render_files(&[chart_file("ci/minimal-values.yaml")], overrides)
}

fn render_production(overrides: &str) -> Manifests {
    render_files(&[chart_file("ci/production-values.yaml")], overrides)
}

fn render_files(files: &[PathBuf], overrides: &str) -> Manifests {
    let output = helm_template(files, overrides);
    assert!(
        output.status.success(),
        "helm template failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("helm prints UTF-8");
    Manifests {
        docs: split_documents(&text),
    }
}

/// Splits helm's output at its `---` lines. Everything helm renders from this chart nests
/// block scalars under keys, so a `---` at column 0 is always a document separator.
fn split_documents(text: &str) -> Vec<Value> {
    let mut documents = vec![String::new()];
    for line in text.lines() {
        if line == "---" {
            documents.push(String::new());
        } else if let Some(current) = documents.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    documents
        .iter()
        .map(|doc| serde_yaml::from_str::<Value>(doc).expect("rendered manifest is valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Renders ci/minimal-values.yaml plus `overrides`, which the chart must refuse; returns helm's
/// error output.
fn render_refused(overrides: &str) -> String {
    let output = helm_template(&[chart_file("ci/minimal-values.yaml")], overrides);
    assert!(
        !output.status.success(),
        "helm template accepted values it must refuse:\n{overrides}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Manifests {
    docs: Vec<Value>,
}

impl Manifests {
    fn all(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    fn find(&self, kind: &str, name: &str) -> &Value {
        self.try_find(kind, name).unwrap_or_else(|| {
            let present: Vec<String> = self
                .docs
                .iter()
                .map(|d| format!("{}/{}", str_of(&d["kind"]), str_of(&d["metadata"]["name"])))
                .collect();
            panic!("no {kind}/{name} rendered; present: {present:?}")
        })
    }

    fn try_find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
    }

    /// Every pod template: Deployments, StatefulSets and Jobs.
    fn pod_specs(&self) -> Vec<(String, &Value)> {
        self.docs
            .iter()
            .filter(|d| matches!(str_of(&d["kind"]), "Deployment" | "StatefulSet" | "Job"))
            .map(|d| {
                (
                    str_of(&d["metadata"]["name"]).to_string(),
                    &d["spec"]["template"]["spec"],
                )
            })
            .collect()
    }

    fn config_toml(&self, configmap: &str) -> &str {
        let data = &self.find("ConfigMap", configmap)["data"];
        data["mailpulse.toml"]
            .as_str()
            .unwrap_or_else(|| panic!("ConfigMap {configmap} has no mailpulse.toml"))
    }

    /// The decoded value of a key of a rendered Secret, if the Secret and key exist.
    fn secret_value(&self, secret: &str, key: &str) -> Option<String> {
        let encoded = self.try_find("Secret", secret)?["data"][key].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("Secret data is base64");
        Some(String::from_utf8(bytes).expect("Secret value is UTF-8"))
    }

    /// The environment a container would see, secrets resolved from the rendered Secrets.
    fn resolved_env(&self, container: &Value) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for var in seq(&container["env"]) {
            let name = str_of(&var["name"]).to_string();
            if let Some(value) = var["value"].as_str() {
                env.push((name, value.to_string()));
                continue;
            }
            let reference = &var["valueFrom"]["secretKeyRef"];
            let (secret, key) = (str_of(&reference["name"]), str_of(&reference["key"]));
            match self.secret_value(secret, key) {
                Some(value) => env.push((name, value)),
                None if reference["optional"] == true => {}
                None => panic!("{name} needs {secret}/{key}, which is not rendered"),
            }
        }
        env
    }
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn seq(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

fn workload<'a>(manifests: &'a Manifests, kind: &str, name: &str) -> &'a Value {
    &manifests.find(kind, name)["spec"]["template"]
}

fn container<'a>(pod_spec: &'a Value, name: &str) -> &'a Value {
    seq(&pod_spec["containers"])
        .iter()
        .chain(seq(&pod_spec["initContainers"]))
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env_var<'a>(container: &'a Value, name: &str) -> &'a Value {
    seq(&container["env"])
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("container {} has no env {name}", str_of(&container["name"])))
}

fn has_env(container: &Value, name: &str) -> bool {
    seq(&container["env"]).iter().any(|v| v["name"] == name)
}

fn volume<'a>(pod_spec: &'a Value, name: &str) -> &'a Value {
    seq(&pod_spec["volumes"])
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

fn mount_path<'a>(container: &'a Value, volume: &str) -> &'a str {
    seq(&container["volumeMounts"])
        .iter()
        .find(|m| m["name"] == volume)
        .map(|m| str_of(&m["mountPath"]))
        .unwrap_or_else(|| panic!("container does not mount {volume}"))
}

/// Writes a rendered config file to disk and loads it with the real loader under `env`.
fn load_config(toml: &str, env: &[(String, String)]) -> Config {
    let mut file = tempfile::NamedTempFile::new().expect("create a config file");
    file.write_all(toml.as_bytes())
        .expect("write the config file");
    let env: Vec<(String, String)> = env
        .iter()
        .filter(|(name, _)| !AWAITING_CONFIG_KEYS.contains(&name.as_str()))
        .cloned()
        .collect();
    Config::load_with_env(Some(file.path()), &env)
        .unwrap_or_else(|e| panic!("rendered config does not load: {e}\n{toml}"))
}

const MINIMAL_SIGNING_KEYS: &str =
    "ci1:0101010101010101010101010101010101010101010101010101010101010101";

// ---------------------------------------------------------------------------------------------
// Probes and ports
// ---------------------------------------------------------------------------------------------

#[test]
fn probes_hit_health_endpoints_on_the_named_ports() {
    let manifests = render("aggregator: {adminPort: 9200}\n");
    let cases = [
        ("Deployment", "mailpulse-edge", "edge", "http", 8080),
        (
            "Deployment",
            "mailpulse-aggregator",
            "aggregator",
            "admin",
            9200,
        ),
        ("Deployment", "mailpulse-api", "api", "http", 8081),
    ];
    for (kind, name, container_name, port_name, port) in cases {
        let pod = &workload(&manifests, kind, name)["spec"];
        let c = container(pod, container_name);
        let declared = seq(&c["ports"])
            .iter()
            .find(|p| p["name"] == port_name)
            .unwrap_or_else(|| panic!("{name} declares no port {port_name}"));
        assert_eq!(declared["containerPort"], port, "{name} port");
        for (probe, path) in [
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ] {
            assert_eq!(c[probe]["httpGet"]["path"], path, "{name} {probe} path");
            assert_eq!(
                c[probe]["httpGet"]["port"], port_name,
                "{name} {probe} port"
            );
        }
    }
    let aggregator = container(
        &workload(&manifests, "Deployment", "mailpulse-aggregator")["spec"],
        "aggregator",
    );
    assert_eq!(
        env_var(aggregator, "MAILPULSE_AGGREGATOR_ADMIN_LISTEN")["value"],
        "0.0.0.0:9200"
    );
    let config = manifests.config_toml("mailpulse");
    assert!(
        config.contains("listen = \"0.0.0.0:8080\""),
        "edge listen:\n{config}"
    );
    assert!(
        config.contains("listen = \"0.0.0.0:8081\""),
        "api listen:\n{config}"
    );
}

#[test]
fn services_and_ingress_route_to_the_named_ports() {
    let manifests = render(
        "edge: {ingress: {enabled: true, host: t.example.org, tlsSecretName: t-tls}}\n\
         api: {ingress: {enabled: true, host: s.example.org}}\n",
    );
    assert_eq!(
        manifests.find("Service", "mailpulse-edge")["spec"]["ports"][0]["targetPort"],
        "http"
    );
    assert_eq!(
        manifests.find("Service", "mailpulse-aggregator")["spec"]["ports"][0]["targetPort"],
        "admin"
    );
    let edge_ingress = manifests.find("Ingress", "mailpulse-edge");
    let rule = &edge_ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "t.example.org");
    let backend = &rule["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["name"], "mailpulse-edge");
    assert_eq!(backend["port"]["name"], "http");
    assert_eq!(edge_ingress["spec"]["tls"][0]["secretName"], "t-tls");
    let api_rule = &manifests.find("Ingress", "mailpulse-api")["spec"]["rules"][0];
    assert_eq!(api_rule["host"], "s.example.org");
    assert_eq!(
        api_rule["http"]["paths"][0]["backend"]["service"]["name"],
        "mailpulse-api"
    );
}

// ---------------------------------------------------------------------------------------------
// Security
// ---------------------------------------------------------------------------------------------

#[test]
fn every_container_runs_non_root_read_only_without_capabilities() {
    // Production values render every kind of pod: StatefulSet edge with the GeoIP init
    // container, aggregator, API, and both hook Jobs.
    let manifests = render_production("");
    let pods = manifests.pod_specs();
    let names: Vec<&str> = pods.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names.len(),
        5,
        "expected edge, aggregator, api, migrate, topics: {names:?}"
    );
    for (name, pod) in pods {
        let pod_security = &pod["securityContext"];
        assert_eq!(
            pod_security["runAsNonRoot"], true,
            "{name} pod runAsNonRoot"
        );
        assert_eq!(
            pod_security["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        assert_eq!(
            pod["automountServiceAccountToken"], false,
            "{name} SA token"
        );
        // Service links would inject MAILPULSE_EDGE_PORT & co., which the loader refuses.
        assert_eq!(
            pod["enableServiceLinks"], false,
            "{name} enableServiceLinks"
        );
        let containers = seq(&pod["containers"])
            .iter()
            .chain(seq(&pod["initContainers"]));
        for c in containers {
            let cname = str_of(&c["name"]);
            let security = &c["securityContext"];
            assert_eq!(
                security["runAsNonRoot"], true,
                "{name}/{cname} runAsNonRoot"
            );
            assert_eq!(
                security["readOnlyRootFilesystem"], true,
                "{name}/{cname} readOnlyRootFilesystem"
            );
            assert_eq!(
                security["allowPrivilegeEscalation"], false,
                "{name}/{cname} allowPrivilegeEscalation"
            );
            assert_eq!(
                security["capabilities"]["drop"],
                Value::Sequence(vec!["ALL".into()]),
                "{name}/{cname} capabilities"
            );
            assert!(
                c["resources"]["requests"].is_mapping(),
                "{name}/{cname} has no resource requests"
            );
            assert_eq!(mount_path(c, "tmp"), "/tmp", "{name}/{cname} writable /tmp");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration and secrets
// ---------------------------------------------------------------------------------------------

#[test]
fn config_file_is_mounted_where_mailpulse_config_points() {
    let manifests = render_production("");
    for (name, pod) in manifests.pod_specs() {
        let main = &seq(&pod["containers"])[0];
        let configmap = str_of(&volume(pod, "config")["configMap"]["name"]);
        let expected = format!("{}/mailpulse.toml", mount_path(main, "config"));
        assert_eq!(
            env_var(main, "MAILPULSE_CONFIG")["value"],
            expected.as_str(),
            "{name}"
        );
        // The ConfigMap exists and holds the file (hook Jobs read the hook copy).
        assert!(!manifests.config_toml(configmap).is_empty(), "{name}");
    }
    for job in ["mailpulse-migrate", "mailpulse-topics"] {
        let pod = &workload(&manifests, "Job", job)["spec"];
        assert_eq!(
            volume(pod, "config")["configMap"]["name"],
            "mailpulse-hook",
            "{job}"
        );
    }
}

#[test]
fn rendered_config_loads_with_the_real_loader_in_every_pod() {
    for (values, manifests) in [
        ("minimal", render("")),
        ("production", render_production("")),
    ] {
        for (name, pod) in manifests.pod_specs() {
            let main = &seq(&pod["containers"])[0];
            let configmap = str_of(&volume(pod, "config")["configMap"]["name"]);
            let env = manifests.resolved_env(main);
            let config = load_config(manifests.config_toml(configmap), &env);
            assert!(
                !config.keys.allow_dev_key,
                "{values}/{name}: dev keys allowed"
            );
            if name == "mailpulse-aggregator" {
                // The admin port the probes and the ServiceMonitor use.
                assert_eq!(config.aggregator.admin_listen, "0.0.0.0:9102");
            }
            assert_eq!(config.edge.spool_dir, Path::new("/var/lib/mailpulse/spool"));
            if values == "minimal" {
                assert_eq!(config.keys.signing, MINIMAL_SIGNING_KEYS, "{name}");
                assert_eq!(
                    config.clickhouse.url,
                    "http://clickhouse.clickhouse.svc:8123"
                );
                assert_eq!(config.edge.tracking_base_url, "https://track.example.com");
                assert_eq!(config.edge.spool_max_bytes, 1 << 30);
                assert!(config.kafka.properties.is_empty(), "{name}");
            } else {
                // Numbers past 2^31 survive Helm's float64 values.
                assert_eq!(config.edge.spool_max_bytes, 4_294_967_296, "{name}");
                assert_eq!(config.keys.active, "k2");
                assert_eq!(config.edge.trusted_proxies, vec!["10.0.0.0/8".to_string()]);
                let properties = &config.kafka.properties;
                assert_eq!(
                    properties.get("security.protocol").map(String::as_str),
                    Some("SASL_SSL")
                );
                assert_eq!(
                    properties.get("enable.idempotence").map(String::as_str),
                    Some("true")
                );
                // The secret property arrives through MAILPULSE_KAFKA_PROPERTIES.
                assert_eq!(
                    properties.get("sasl.password").map(String::as_str),
                    Some("ci-kafka-password"),
                    "{name}"
                );
                if name != "mailpulse-edge" && name != "mailpulse-topics" {
                    assert_eq!(
                        config.clickhouse.password, "ci-clickhouse-password",
                        "{name}"
                    );
                }
            }
        }
    }
}

#[test]
fn secrets_are_wired_from_the_chart_secret_by_key() {
    let manifests = render_production("");
    let expectations: BTreeMap<&str, (&str, &str)> = BTreeMap::from([
        ("MAILPULSE_KEYS_SIGNING", ("signing-keys", "k2:0303")),
        (
            "MAILPULSE_KEYS_SUBSCRIBER_HASH",
            ("subscriber-hash-key", "0505"),
        ),
        (
            "MAILPULSE_CLICKHOUSE_PASSWORD",
            ("clickhouse-password", "ci-clickhouse-password"),
        ),
        (
            "MAILPULSE_API_ADMIN_KEYS",
            ("api-admin-keys", "ci-admin-key-1,ci-admin-key-2"),
        ),
    ]);
    let api = container(
        &workload(&manifests, "Deployment", "mailpulse-api")["spec"],
        "api",
    );
    for (env_name, (key, value_prefix)) in &expectations {
        let reference = &env_var(api, env_name)["valueFrom"]["secretKeyRef"];
        assert_eq!(reference["name"], "mailpulse", "{env_name}");
        assert_eq!(reference["key"], *key, "{env_name}");
        let stored = manifests
            .secret_value("mailpulse", key)
            .unwrap_or_else(|| panic!("Secret mailpulse has no {key}"));
        assert!(
            stored.starts_with(value_prefix),
            "{key} holds the configured value"
        );
    }
    // Least privilege: the public edge never sees the ClickHouse password or admin keys.
    let edge = container(
        &workload(&manifests, "StatefulSet", "mailpulse-edge")["spec"],
        "edge",
    );
    assert!(!has_env(edge, "MAILPULSE_CLICKHOUSE_PASSWORD"));
    assert!(!has_env(edge, "MAILPULSE_API_ADMIN_KEYS"));
    assert!(has_env(edge, "MAILPULSE_KEYS_SIGNING"));
    // The migration Job reads the hook copy, which is created before it.
    let migrate = container(
        &workload(&manifests, "Job", "mailpulse-migrate")["spec"],
        "migrate",
    );
    assert_eq!(
        env_var(migrate, "MAILPULSE_CLICKHOUSE_PASSWORD")["valueFrom"]["secretKeyRef"]["name"],
        "mailpulse-hook"
    );
    assert_eq!(
        manifests
            .secret_value("mailpulse-hook", "clickhouse-password")
            .as_deref(),
        Some("ci-clickhouse-password")
    );
}

#[test]
fn existing_secret_is_honoured_everywhere_and_no_secret_is_rendered() {
    let manifests = render(
        "secrets:\n  existingSecret: team-keys\n  signingKeys: ''\n  subscriberHashKey: ''\n  \
         keys: {signingKeys: sign, clickhousePassword: ch-pass}\n",
    );
    assert!(
        manifests.all("Secret").is_empty(),
        "no Secret (not even a hook copy) may be rendered with existingSecret"
    );
    for (name, pod) in manifests.pod_specs() {
        let main = &seq(&pod["containers"])[0];
        for var in seq(&main["env"]) {
            let reference = &var["valueFrom"]["secretKeyRef"];
            if reference.is_mapping() {
                assert_eq!(
                    reference["name"],
                    "team-keys",
                    "{name} {}",
                    str_of(&var["name"])
                );
            }
        }
        let signing = &env_var(main, "MAILPULSE_KEYS_SIGNING")["valueFrom"]["secretKeyRef"];
        assert_eq!(signing["key"], "sign", "{name}: custom key name");
        assert_ne!(
            signing["optional"], true,
            "{name}: signing keys are mandatory"
        );
        assert!(
            workload_annotations(&manifests, &name).is_none_or(|a| a["checksum/secret"].is_null()),
            "{name}: no checksum of a Secret the chart does not render"
        );
    }
    let aggregator = container(
        &workload(&manifests, "Deployment", "mailpulse-aggregator")["spec"],
        "aggregator",
    );
    let password =
        &env_var(aggregator, "MAILPULSE_CLICKHOUSE_PASSWORD")["valueFrom"]["secretKeyRef"];
    assert_eq!(password["key"], "ch-pass");
    assert_eq!(
        password["optional"], true,
        "a passwordless ClickHouse needs no key"
    );
}

fn workload_annotations<'a>(manifests: &'a Manifests, name: &str) -> Option<&'a Value> {
    manifests
        .docs
        .iter()
        .find(|d| d["metadata"]["name"] == name && d["spec"]["template"].is_mapping())
        .map(|d| &d["spec"]["template"]["metadata"]["annotations"])
}

#[test]
fn config_change_rolls_pods_and_nothing_else_does() {
    let checksums = |manifests: &Manifests| -> Vec<String> {
        ["mailpulse-edge", "mailpulse-aggregator", "mailpulse-api"]
            .iter()
            .map(|name| {
                let annotations = workload_annotations(manifests, name).expect("workload");
                str_of(&annotations["checksum/config"]).to_string()
            })
            .collect()
    };
    let base = checksums(&render(""));
    assert!(
        base.iter().all(|c| c.len() == 64),
        "sha256 checksums: {base:?}"
    );
    assert_eq!(base, checksums(&render("")), "rendering is deterministic");
    let changed = checksums(&render("log: {level: debug}\n"));
    for (before, after) in base.iter().zip(&changed) {
        assert_ne!(
            before, after,
            "a config change must change the pod template"
        );
    }
    let secret_of = |manifests: &Manifests| {
        str_of(&workload_annotations(manifests, "mailpulse-edge").expect("edge")["checksum/secret"])
            .to_string()
    };
    assert_ne!(
        secret_of(&render("")),
        secret_of(&render("clickhouse: {password: rotated}\n")),
        "a Secret change rolls pods too"
    );
}

// ---------------------------------------------------------------------------------------------
// Edge: spool, scaling, shutdown, GeoIP
// ---------------------------------------------------------------------------------------------

#[test]
fn edge_spool_is_an_emptydir_by_default_and_a_claim_with_persistence() {
    let manifests = render("");
    assert!(manifests
        .try_find("StatefulSet", "mailpulse-edge")
        .is_none());
    let pod = &workload(&manifests, "Deployment", "mailpulse-edge")["spec"];
    let spool = volume(pod, "spool");
    assert_eq!(spool["emptyDir"]["sizeLimit"], "2Gi");
    let edge = container(pod, "edge");
    assert_eq!(mount_path(edge, "spool"), "/var/lib/mailpulse/spool");
    assert!(manifests
        .config_toml("mailpulse")
        .contains("spool_dir = \"/var/lib/mailpulse/spool\""));

    let persistent =
        render("edge: {spool: {persistence: {enabled: true, size: 5Gi, storageClassName: ssd}}}\n");
    assert!(persistent
        .try_find("Deployment", "mailpulse-edge")
        .is_none());
    let statefulset = persistent.find("StatefulSet", "mailpulse-edge");
    let claim = &statefulset["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "spool");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "5Gi");
    assert_eq!(claim["spec"]["storageClassName"], "ssd");
    let pod = &statefulset["spec"]["template"]["spec"];
    assert!(
        seq(&pod["volumes"]).iter().all(|v| v["name"] != "spool"),
        "the claim, not a pod volume, backs the spool"
    );
    assert_eq!(
        mount_path(container(pod, "edge"), "spool"),
        "/var/lib/mailpulse/spool"
    );
    let headless = statefulset["spec"]["serviceName"]
        .as_str()
        .expect("serviceName");
    assert_eq!(
        persistent.find("Service", headless)["spec"]["clusterIP"],
        "None"
    );
    assert_eq!(
        persistent.find("HorizontalPodAutoscaler", "mailpulse-edge")["spec"]["scaleTargetRef"]
            ["kind"],
        "StatefulSet"
    );
}

#[test]
fn edge_has_an_autoscaler_and_disruption_budget_selecting_its_pods() {
    let manifests = render("edge: {autoscaling: {minReplicas: 3, maxReplicas: 12}}\n");
    let deployment = manifests.find("Deployment", "mailpulse-edge");
    assert!(
        deployment["spec"]["replicas"].is_null(),
        "the HPA owns the replica count"
    );
    let hpa = manifests.find("HorizontalPodAutoscaler", "mailpulse-edge");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "mailpulse-edge");
    assert_eq!(hpa["spec"]["minReplicas"], 3);
    assert_eq!(hpa["spec"]["maxReplicas"], 12);
    let pdb = manifests.find("PodDisruptionBudget", "mailpulse-edge");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selector = pdb["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("PDB matchLabels");
    assert!(!selector.is_empty());
    for (key, value) in selector {
        assert_eq!(&pod_labels[key], value, "PDB selects edge pods by {key:?}");
    }
    assert_eq!(
        selector.get("app.kubernetes.io/component"),
        Some(&Value::from("edge")),
        "and only edge pods"
    );

    let fixed = render("edge: {autoscaling: {enabled: false}, replicaCount: 4}\n");
    assert!(fixed.all("HorizontalPodAutoscaler").is_empty());
    assert_eq!(
        fixed.find("Deployment", "mailpulse-edge")["spec"]["replicas"],
        4
    );
}

#[test]
fn edge_grace_period_covers_prestop_drain_and_flush() {
    let manifests = render("");
    let pod = &workload(&manifests, "Deployment", "mailpulse-edge")["spec"];
    let command = &container(pod, "edge")["lifecycle"]["preStop"]["exec"]["command"];
    assert_eq!(command[0], "sleep");
    let sleep: u64 = str_of(&command[1]).parse().expect("sleep seconds");
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace period");
    // Default drain budget 10 s and flush 5000 ms (values.yaml).
    assert!(
        grace > sleep + 10 + 5,
        "grace {grace} s vs preStop {sleep} s + drain + flush"
    );

    let refused = render_refused("edge: {terminationGracePeriodSeconds: 20}\n");
    assert!(
        refused.contains("edge.terminationGracePeriodSeconds (20) must exceed"),
        "{refused}"
    );
}

#[test]
fn geoip_volume_source_mounts_the_given_volume_read_only() {
    let manifests = render("");
    let pod = &workload(&manifests, "Deployment", "mailpulse-edge")["spec"];
    assert!(
        pod["initContainers"].is_null(),
        "no download with source=volume"
    );
    assert_eq!(
        volume(pod, "geoip")["persistentVolumeClaim"]["claimName"],
        "mailpulse-geoip"
    );
    let edge = container(pod, "edge");
    let mount = seq(&edge["volumeMounts"])
        .iter()
        .find(|m| m["name"] == "geoip")
        .expect("geoip mount");
    assert_eq!(mount["readOnly"], true);
    let config = manifests.config_toml("mailpulse");
    assert!(
        config.contains(&format!(
            "geo_db = \"{}/country.mmdb\"",
            str_of(&mount["mountPath"])
        )),
        "{config}"
    );
}

#[test]
fn geoip_init_container_downloads_into_the_volume_the_edge_reads() {
    let manifests = render_production("");
    let pod = &workload(&manifests, "StatefulSet", "mailpulse-edge")["spec"];
    let download = container(pod, "geoip-download");
    assert_eq!(mount_path(download, "geoip"), "/geoip");
    assert!(volume(pod, "geoip")["emptyDir"].is_mapping());
    let names: Vec<&str> = seq(&download["env"])
        .iter()
        .map(|v| str_of(&v["name"]))
        .collect();
    let licence = names
        .iter()
        .position(|n| *n == "MAXMIND_LICENSE_KEY")
        .expect("extraEnv");
    let url = names
        .iter()
        .position(|n| *n == "GEOIP_COUNTRY_URL")
        .expect("url env");
    assert!(
        licence < url,
        "$(MAXMIND_LICENSE_KEY) expands only if defined before the URL"
    );
    assert_eq!(env_var(download, "GEOIP_FORMAT")["value"], "tar.gz");
    assert_eq!(
        env_var(download, "GEOIP_ASN_FILE")["value"],
        "GeoLite2-ASN.mmdb"
    );
    let config = manifests.config_toml("mailpulse");
    assert!(config.contains("geo_db = \"/var/lib/mailpulse/geoip/GeoLite2-City.mmdb\""));
    assert!(config.contains("asn_db = \"/var/lib/mailpulse/geoip/GeoLite2-ASN.mmdb\""));
}

// ---------------------------------------------------------------------------------------------
// Hooks and monitoring
// ---------------------------------------------------------------------------------------------

fn hook_weight(doc: &Value) -> i64 {
    str_of(&doc["metadata"]["annotations"]["helm.sh/hook-weight"])
        .parse()
        .expect("numeric hook weight")
}

#[test]
fn migrations_run_as_a_pre_install_and_pre_upgrade_hook() {
    let manifests = render("");
    let job = manifests.find("Job", "mailpulse-migrate");
    let annotations = &job["metadata"]["annotations"];
    assert_eq!(annotations["helm.sh/hook"], "pre-install,pre-upgrade");
    assert_eq!(
        annotations["helm.sh/hook-delete-policy"],
        "before-hook-creation,hook-succeeded"
    );
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(
        container(pod, "migrate")["args"],
        Value::Sequence(vec!["migrate".into()])
    );
    // Its config and Secret are hooks too, created before it (pre-install runs before the
    // release's own ConfigMap and Secret exist).
    for kind in ["ConfigMap", "Secret"] {
        let copy = manifests.find(kind, "mailpulse-hook");
        assert_eq!(
            copy["metadata"]["annotations"]["helm.sh/hook"],
            "pre-install,pre-upgrade"
        );
        assert!(
            hook_weight(copy) < hook_weight(job),
            "{kind} copy precedes the Job"
        );
    }
    assert_eq!(
        manifests.config_toml("mailpulse-hook"),
        manifests.config_toml("mailpulse"),
        "the Job sees the release's configuration"
    );
    assert!(
        manifests.try_find("Job", "mailpulse-topics").is_none(),
        "topics off by default"
    );

    let with_topics = render(
        "kafka: {eventsPartitions: 24}\ntopics: {create: true, replicationFactor: 2, extraArgs: ['--x']}\n",
    );
    let topics = with_topics.find("Job", "mailpulse-topics");
    assert!(hook_weight(topics) < hook_weight(with_topics.find("Job", "mailpulse-migrate")));
    assert_eq!(
        container(&topics["spec"]["template"]["spec"], "topics")["args"],
        Value::Sequence(
            [
                "topics",
                "create",
                "--events-partitions=24",
                "--replication-factor=2",
                "--x"
            ]
            .map(Value::from)
            .to_vec()
        )
    );

    let without = render("migrations: {enabled: false}\n");
    assert!(without.all("Job").is_empty());
    assert!(without.try_find("ConfigMap", "mailpulse-hook").is_none());
}

#[test]
fn service_monitors_exist_only_when_enabled_and_scrape_metrics_ports() {
    assert!(render("").all("ServiceMonitor").is_empty());
    let manifests = render("metrics: {serviceMonitor: {enabled: true, labels: {release: prom}}}\n");
    let monitors = manifests.all("ServiceMonitor");
    assert_eq!(monitors.len(), 2, "edge and aggregator");
    for (component, port) in [("edge", "http"), ("aggregator", "admin")] {
        let name = format!("mailpulse-{component}");
        let monitor = manifests.find("ServiceMonitor", &name);
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
        let endpoint = &monitor["spec"]["endpoints"][0];
        assert_eq!(endpoint["path"], "/metrics");
        assert_eq!(endpoint["port"], port);
        // The selected Service exposes a port of that name.
        let service = manifests.find("Service", &name);
        let selector = monitor["spec"]["selector"]["matchLabels"]
            .as_mapping()
            .expect("selector");
        for (key, value) in selector {
            assert_eq!(
                &service["metadata"]["labels"][key], value,
                "{name} selects its Service"
            );
        }
        assert!(seq(&service["spec"]["ports"])
            .iter()
            .any(|p| p["name"] == port));
    }
}

// ---------------------------------------------------------------------------------------------
// Refused values
// ---------------------------------------------------------------------------------------------

#[test]
fn schema_refuses_bad_values_naming_each_field() {
    let path = Path::new(ROOT).join("tests/helm/bad-values.yaml");
    let bad = std::fs::read_to_string(&path).expect("read tests/helm/bad-values.yaml");
    let expected: Vec<&str> = bad
        .lines()
        .filter_map(|line| line.strip_prefix("# expect: "))
        .collect();
    assert!(expected.len() >= 5, "the fixture lists what it expects");
    let refused = render_refused(&bad);
    for text in expected {
        assert!(refused.contains(text), "missing `{text}` in:\n{refused}");
    }
}

#[test]
fn chart_defaults_alone_are_refused_naming_the_required_values() {
    let output = Command::new(helm())
        .args(["template", RELEASE])
        .arg(chart_file(""))
        .output()
        .expect("run helm template");
    assert!(
        !output.status.success(),
        "defaults lack brokers and ClickHouse"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kafka.brokers: String length must be greater than or equal to 1"));
    assert!(stderr.contains("clickhouse.url: String length must be greater than or equal to 1"));
}

#[test]
fn cross_field_mistakes_are_refused_with_a_message() {
    let cases = [
        (
            "aggregator: {replicaCount: 13}\n",
            "aggregator.replicaCount (13) exceeds kafka.eventsPartitions (12)",
        ),
        (
            "secrets: {signingKeys: ''}\n",
            "secrets.signingKeys is required",
        ),
        (
            "secrets: {subscriberHashKey: ''}\n",
            "secrets.subscriberHashKey is required",
        ),
        (
            "secrets: {signingKeys: 'dev:6d61696c70756c73652d646576656c6f706d656e742d6b65792d303030303031'}\n",
            "public development key",
        ),
        ("geoip: {volume: null}\n", "geoip.volume is required"),
        (
            "geoip: {source: initContainer}\n",
            "geoip.initContainer.countryUrl and geoip.initContainer.asnUrl are required",
        ),
        ("edge: {trackingBaseUrl: ''}\n", "edge.trackingBaseUrl is required"),
        (
            "edge: {autoscaling: {minReplicas: 5, maxReplicas: 3}}\n",
            "edge.autoscaling.minReplicas (5) must not exceed",
        ),
        ("edge: {ingress: {enabled: true}}\n", "edge.ingress.host is required"),
    ];
    for (values, message) in cases {
        let refused = render_refused(values);
        assert!(
            refused.contains(message),
            "values {values:?}: expected `{message}` in:\n{refused}"
        );
    }
}

#[test]
fn tracking_base_url_defaults_to_the_edge_ingress_host() {
    let with_tls = render(
        "edge: {trackingBaseUrl: '', ingress: {enabled: true, host: t.example.net, tlsSecretName: t}}\n",
    );
    assert!(with_tls
        .config_toml("mailpulse")
        .contains("tracking_base_url = \"https://t.example.net\""));
    let explicit = render("edge: {ingress: {enabled: true, host: t.example.net}}\n");
    assert!(
        explicit
            .config_toml("mailpulse")
            .contains("tracking_base_url = \"https://track.example.com\""),
        "an explicit URL wins over the ingress host"
    );
}

// ---------------------------------------------------------------------------------------------
// values.yaml documentation
// ---------------------------------------------------------------------------------------------

/// Every value in values.yaml carries a `# full.key.path -- description` comment right above
/// it (a documented map covers its children), and every such comment names the key below it.
#[test]
fn every_value_has_a_key_description_comment() {
    let text = std::fs::read_to_string(chart_file("values.yaml")).expect("read values.yaml");
    let mut parents: Vec<(usize, String)> = Vec::new();
    let mut pending_comment: Option<String> = None;
    let mut documented: Vec<String> = Vec::new();
    let mut undocumented: Vec<String> = Vec::new();
    let mut misplaced: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("# ") {
            if let Some((path, _)) = rest.split_once(" -- ") {
                pending_comment = Some(path.to_string());
            }
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('-') {
            continue;
        }
        let Some((key, _)) = trimmed.split_once(':') else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        while parents.last().is_some_and(|(i, _)| *i >= indent) {
            parents.pop();
        }
        let path = parents
            .iter()
            .map(|(_, k)| k.as_str())
            .chain([key])
            .collect::<Vec<_>>()
            .join(".");
        parents.push((indent, key.to_string()));
        let comment = pending_comment.take();
        if documented
            .iter()
            .any(|d| path.starts_with(&format!("{d}.")))
        {
            continue; // inside a documented map, e.g. podSecurityContext
        }
        match comment {
            Some(c) if c == path => documented.push(path),
            Some(c) => misplaced.push(format!("`# {c} --` above `{path}`")),
            None => undocumented.push(path),
        }
    }
    // A key without its own comment is fine when it only groups documented keys.
    undocumented.retain(|path| {
        !documented
            .iter()
            .any(|d| d.starts_with(&format!("{path}.")))
    });
    assert!(
        misplaced.is_empty(),
        "comments naming another key: {misplaced:?}"
    );
    assert!(
        undocumented.is_empty(),
        "values without a `# key -- description`: {undocumented:?}"
    );
    assert!(
        documented.len() > 100,
        "parsed {} documented values",
        documented.len()
    );
}
