// deploy/k8s renders (base and the GPU overlay) into objects with every field the
// deployment relies on, and passes the Kubernetes API schemas; deploy/systemd passes
// `systemd-analyze verify`; the Grafana dashboard queries only metrics the code exports;
// the Containerfile's runtime packages cover every shared library the binaries link.
// Tools missing here (kubectl with kustomize >= 4, Node with kubernetes-models,
// systemd-analyze, dpkg) skip the test that needs them, saying which.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "tests/deploy/deploy_support.h"

namespace kvc {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::Source;
using testing::TempDir;

std::string ToolsDir() {
  const char* dir = std::getenv("KVC_TOOLS_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "/opt/kvc-tools";
}

// kubectl whose kustomize is >= 4 (PATH first, then the tools dir); "" if none.
std::string FindKubectl(const TempDir& scratch) {
  for (const std::string& candidate : {std::string("kubectl"), ToolsDir() + "/bin/kubectl"}) {
    CommandResult r = testing::RunCommand({candidate, "version", "--client"},
                                          {{"HOME", scratch.path()}}, scratch.path());
    std::smatch m;
    static const std::regex kVersion("Kustomize Version: v([0-9]+)");
    if (r.exit_code == 0 && std::regex_search(r.output, m, kVersion) && std::stoi(m[1]) >= 4) {
      return candidate;
    }
  }
  return "";
}

// The rendered objects of kustomization directory `dir` (written to `out` as well).
std::vector<YAML::Node> Render(const std::string& kubectl, const TempDir& scratch,
                               const std::string& dir, const std::string& out) {
  CommandResult r = testing::RunCommand({kubectl, "kustomize", Source(dir)},
                                        {{"HOME", scratch.path()}}, scratch.path());
  EXPECT_EQ(r.exit_code, 0) << "kubectl kustomize " << dir << ":\n" << r.output;
  std::ofstream(out) << r.output;
  std::vector<YAML::Node> docs;
  for (const YAML::Node& d : YAML::LoadAll(r.output)) {
    if (d.IsMap()) docs.push_back(d);
  }
  return docs;
}

const YAML::Node* Find(const std::vector<YAML::Node>& docs, const std::string& kind,
                       const std::string& name) {
  for (const YAML::Node& d : docs) {
    if (d["kind"].as<std::string>() == kind && d["metadata"]["name"].as<std::string>() == name) {
      return &d;
    }
  }
  return nullptr;
}

std::string FileText(const std::string& path) { return testing::ReadFile(path); }

// True when every key=value of `selector` is in `labels`.
bool Selects(const YAML::Node& selector, const YAML::Node& labels) {
  if (!selector.IsMap() || selector.size() == 0) return false;
  for (const auto& kv : selector) {
    const std::string key = kv.first.as<std::string>();
    if (!labels[key] || labels[key].as<std::string>() != kv.second.as<std::string>()) return false;
  }
  return true;
}

YAML::Node EnvVar(const YAML::Node& container, const std::string& name) {
  for (const YAML::Node& e : container["env"]) {
    if (e["name"].as<std::string>() == name) return e;
  }
  return YAML::Node();
}

std::set<int> ContainerPorts(const YAML::Node& container) {
  std::set<int> ports;
  for (const YAML::Node& p : container["ports"]) ports.insert(p["containerPort"].as<int>());
  return ports;
}

// An image reference with an explicit tag that is not "latest".
void ExpectPinnedImage(const std::string& what, const std::string& image) {
  const size_t slash = image.rfind('/');
  const size_t colon = image.rfind(':');
  ASSERT_TRUE(colon != std::string::npos && (slash == std::string::npos || colon > slash))
      << what << ": image '" << image << "' has no tag";
  EXPECT_NE(image.substr(colon + 1), "latest") << what << ": image '" << image << "'";
}

// A probe on a real health check of this container. An HTTP liveness probe uses
// the cheap /livez (a conductor with no workers yet is alive, not ready); an HTTP
// readiness probe uses /health.
void ExpectProbe(const std::string& what, const YAML::Node& probe, const YAML::Node& container,
                 const std::string& http_path = "/health") {
  ASSERT_TRUE(probe.IsMap()) << what << " is missing";
  const std::set<int> ports = ContainerPorts(container);
  if (probe["grpc"]) {
    EXPECT_TRUE(ports.count(probe["grpc"]["port"].as<int>())) << what << ": grpc port not exposed";
  } else if (probe["httpGet"]) {
    EXPECT_EQ(probe["httpGet"]["path"].as<std::string>(), http_path) << what;
  } else {
    ASSERT_TRUE(probe["exec"]) << what << ": neither grpc, httpGet nor exec";
    EXPECT_NE(probe["exec"]["command"][0].as<std::string>().find("kvc-healthcheck.sh"),
              std::string::npos)
        << what;
  }
}

// How long a role may take from SIGTERM to exit, by its shipped config: drain_timeout_ms
// (where the role has it) plus shutdown_grace_ms (default 1000).
int StopBudgetMs(const std::string& role) {
  const YAML::Node config = YAML::LoadFile(Source("deploy/config/" + role + ".yaml"));
  const int grace = config["shutdown_grace_ms"] ? config["shutdown_grace_ms"].as<int>() : 1000;
  const int drain = config["drain_timeout_ms"] ? config["drain_timeout_ms"].as<int>() : 0;
  return grace + drain;
}

struct Expected {
  std::string kind, name, role;
  int min_replicas;
  std::vector<std::string> secrets;  // KVC_<X>_FILE variables the role must get
};

const std::vector<Expected>& KvcWorkloads() {
  static const std::vector<Expected> kWorkloads = {
      {"Deployment", "kvc-master", "master", 2, {"CLUSTER_TOKEN"}},
      {"Deployment", "kvc-conductor", "conductor", 2, {"CLUSTER_TOKEN", "ADMIN_TOKEN", "API_KEYS"}},
      {"Deployment", "kvc-prefill", "prefill", 1, {"CLUSTER_TOKEN"}},
      {"Deployment", "kvc-decode", "decode", 1, {"CLUSTER_TOKEN"}},
      {"Deployment", "kvc-store", "store", 1, {"CLUSTER_TOKEN"}},
  };
  return kWorkloads;
}

// Secrets: each KVC_<X>_FILE lies in a mounted volume of Secret kvc-tokens, under a key
// the Secret has.
void ExpectSecretFiles(const Expected& w, const YAML::Node& pod, const YAML::Node& c,
                       const YAML::Node& secret) {
  for (const std::string& x : w.secrets) {
    const YAML::Node var = EnvVar(c, "KVC_" + x + "_FILE");
    ASSERT_TRUE(var.IsMap()) << w.name << ": no KVC_" << x << "_FILE";
    const fs::path file = var["value"].as<std::string>();
    bool mounted = false;
    for (const YAML::Node& m : c["volumeMounts"]) {
      if (fs::path(m["mountPath"].as<std::string>()) != file.parent_path()) continue;
      for (const YAML::Node& v : pod["volumes"]) {
        if (v["name"].as<std::string>() == m["name"].as<std::string>() && v["secret"] &&
            v["secret"]["secretName"].as<std::string>() == "kvc-tokens") {
          mounted = true;
        }
      }
    }
    EXPECT_TRUE(mounted) << w.name << ": " << file << " is not in a kvc-tokens mount";
    const std::string key = file.filename().string();
    EXPECT_TRUE(secret["stringData"][key] || secret["data"][key])
        << w.name << ": Secret kvc-tokens has no key " << key;
  }
}

// The role's config: KVC_CONFIG is /etc/kvc/ROLE.yaml, mounted from the generated
// ConfigMap, whose ROLE.yaml equals deploy/config/ROLE.yaml.
void ExpectConfig(const Expected& w, const YAML::Node& pod, const YAML::Node& c,
                  const std::vector<YAML::Node>& docs) {
  const YAML::Node var = EnvVar(c, "KVC_CONFIG");
  ASSERT_TRUE(var.IsMap()) << w.name;
  EXPECT_EQ(var["value"].as<std::string>(), "/etc/kvc/" + w.role + ".yaml");
  std::string configmap;
  for (const YAML::Node& m : c["volumeMounts"]) {
    if (m["mountPath"].as<std::string>() != "/etc/kvc") continue;
    for (const YAML::Node& v : pod["volumes"]) {
      if (v["name"].as<std::string>() == m["name"].as<std::string>() && v["configMap"]) {
        configmap = v["configMap"]["name"].as<std::string>();
      }
    }
  }
  ASSERT_TRUE(configmap.starts_with("kvc-config-"))
      << w.name << ": /etc/kvc from '" << configmap << "' (want the generated kvc-config)";
  const YAML::Node* cm = Find(docs, "ConfigMap", configmap);
  ASSERT_NE(cm, nullptr) << configmap;
  ASSERT_TRUE((*cm)["data"][w.role + ".yaml"]) << configmap << " lacks " << w.role << ".yaml";
  EXPECT_EQ((*cm)["data"][w.role + ".yaml"].as<std::string>(),
            FileText(Source("deploy/config/" + w.role + ".yaml")))
      << "deploy/k8s/base/config/" << w.role << ".yaml must equal deploy/config/" << w.role
      << ".yaml";
}

// Scraping: the annotated port is where the role's config serves /metrics.
void ExpectScrape(const Expected& w, const YAML::Node& pod_meta, const YAML::Node& c) {
  const YAML::Node config = YAML::LoadFile(Source("deploy/config/" + w.role + ".yaml"));
  const YAML::Node annotations =
      pod_meta["annotations"] ? pod_meta["annotations"] : YAML::Node(YAML::NodeType::Map);
  int metrics_port = -1;
  if (config["metrics_port"]) metrics_port = config["metrics_port"].as<int>();
  if (w.role == "conductor") metrics_port = config["http_port"].as<int>();
  if (metrics_port < 0) {
    EXPECT_FALSE(annotations["prometheus.io/scrape"])
        << w.name << ": annotated for scraping, but its config serves no /metrics";
    return;
  }
  ASSERT_TRUE(annotations["prometheus.io/scrape"]) << w.name << ": no scrape annotation";
  EXPECT_EQ(annotations["prometheus.io/scrape"].as<std::string>(), "true");
  EXPECT_EQ(annotations["prometheus.io/port"].as<std::string>(), std::to_string(metrics_port))
      << w.name;
  EXPECT_EQ(annotations["prometheus.io/path"].as<std::string>(), "/metrics");
  EXPECT_TRUE(ContainerPorts(c).count(metrics_port)) << w.name << ": metrics port not exposed";
}

void ExpectWorkload(const Expected& w, const std::vector<YAML::Node>& docs) {
  SCOPED_TRACE(w.name);
  const YAML::Node* obj = Find(docs, w.kind, w.name);
  ASSERT_NE(obj, nullptr) << w.kind << " " << w.name << " is missing";
  const YAML::Node spec = (*obj)["spec"];
  EXPECT_GE(spec["replicas"].as<int>(), w.min_replicas);
  const YAML::Node tmpl = spec["template"];
  const YAML::Node pod = tmpl["spec"];
  EXPECT_EQ(tmpl["metadata"]["labels"]["app.kubernetes.io/component"].as<std::string>(), w.role);
  EXPECT_TRUE(Selects(spec["selector"]["matchLabels"], tmpl["metadata"]["labels"]));
  const YAML::Node c = pod["containers"][0];
  ExpectPinnedImage(w.name, c["image"].as<std::string>());
  EXPECT_EQ(c["args"][0].as<std::string>(), w.role) << "the entrypoint's ROLE argument";
  ExpectProbe(w.name + " readinessProbe", c["readinessProbe"], c);
  ExpectProbe(w.name + " livenessProbe", c["livenessProbe"], c, "/livez");
  EXPECT_TRUE(c["resources"]["requests"]["cpu"] && c["resources"]["requests"]["memory"]);
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>(false));
  // Graceful stop: the kubelet must wait longer than the process's own drain and grace.
  EXPECT_GT(pod["terminationGracePeriodSeconds"].as<int>() * 1000, StopBudgetMs(w.role) + 2000);
  bool cluster_env = false;
  for (const YAML::Node& e : c["envFrom"]) {
    cluster_env |=
        e["configMapRef"] && e["configMapRef"]["name"].as<std::string>() == "kvc-cluster";
  }
  EXPECT_TRUE(cluster_env) << "envFrom ConfigMap kvc-cluster";
  const YAML::Node* secret = Find(docs, "Secret", "kvc-tokens");
  ASSERT_NE(secret, nullptr);
  ExpectSecretFiles(w, pod, c, *secret);
  ExpectConfig(w, pod, c, docs);
  ExpectScrape(w, tmpl["metadata"], c);
  if (w.role == "prefill" || w.role == "decode" || w.role == "store") {
    const YAML::Node mem = EnvVar(c, "KVC_POD_MEMORY_BYTES");
    ASSERT_TRUE(mem.IsMap()) << "pool DRAM must be sized from the memory request";
    EXPECT_EQ(mem["valueFrom"]["resourceFieldRef"]["resource"].as<std::string>(),
              "requests.memory");
    EXPECT_TRUE(EnvVar(c, "KVC_STORE_DRAM_PERCENT").IsMap());
    EXPECT_TRUE(EnvVar(c, "KVC_NODE_ID").IsMap());
  }
}

// A PodDisruptionBudget / Service of `kind` named `name` selects the pods of `workload`.
void ExpectSelects(const std::vector<YAML::Node>& docs, const std::string& kind,
                   const std::string& name, const std::string& workload_kind,
                   const std::string& workload) {
  const YAML::Node* obj = Find(docs, kind, name);
  ASSERT_NE(obj, nullptr) << kind << " " << name << " is missing";
  const YAML::Node* w = Find(docs, workload_kind, workload);
  ASSERT_NE(w, nullptr) << workload;
  const YAML::Node selector =
      kind == "Service" ? (*obj)["spec"]["selector"] : (*obj)["spec"]["selector"]["matchLabels"];
  EXPECT_TRUE(Selects(selector, (*w)["spec"]["template"]["metadata"]["labels"]))
      << kind << " " << name << " does not select " << workload;
}

int ServicePort(const std::vector<YAML::Node>& docs, const std::string& name) {
  const YAML::Node* s = Find(docs, "Service", name);
  return s == nullptr ? -1 : (*s)["spec"]["ports"][0]["port"].as<int>();
}

TEST(K8sManifestTest, BaseRendersEveryRoleWithProbesSecretsAndPinnedImages) {
  TempDir scratch;
  const std::string kubectl = FindKubectl(scratch);
  if (kubectl.empty()) {
    GTEST_SKIP() << "no kubectl with kustomize >= 4 (PATH or " << ToolsDir()
                 << "/bin; scripts/install-deps.sh installs one)";
  }
  const std::vector<YAML::Node> docs =
      Render(kubectl, scratch, "deploy/k8s", scratch.path() + "/base.yaml");
  ASSERT_FALSE(docs.empty());
  for (const Expected& w : KvcWorkloads()) ExpectWorkload(w, docs);

  const YAML::Node* etcd = Find(docs, "StatefulSet", "kvc-etcd");
  ASSERT_NE(etcd, nullptr);
  EXPECT_GE((*etcd)["spec"]["replicas"].as<int>(), 3);
  ExpectPinnedImage(
      "kvc-etcd", (*etcd)["spec"]["template"]["spec"]["containers"][0]["image"].as<std::string>());
  const YAML::Node etcd_c = (*etcd)["spec"]["template"]["spec"]["containers"][0];
  ExpectProbe("kvc-etcd readinessProbe", etcd_c["readinessProbe"], etcd_c);
  ExpectProbe("kvc-etcd livenessProbe", etcd_c["livenessProbe"], etcd_c);

  // The master's readiness is leadership; its Service routes to the leader.
  const YAML::Node* master = Find(docs, "Deployment", "kvc-master");
  ASSERT_NE(master, nullptr);
  EXPECT_EQ((*master)["spec"]["strategy"]["type"].as<std::string>(), "Recreate");
  const YAML::Node master_c = (*master)["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(master_c["readinessProbe"]["exec"]["command"][1].as<std::string>(), "master-leader");
  EXPECT_EQ(EnvVar(master_c, "KVC_LISTEN_ADDRESS")["value"].as<std::string>(), "$(POD_IP):50052")
      << "the leader publishes its bound address: it must be the pod IP";

  ExpectSelects(docs, "Service", "kvc-conductor", "Deployment", "kvc-conductor");
  ExpectSelects(docs, "Service", "kvc-conductor-admin", "Deployment", "kvc-conductor");
  ExpectSelects(docs, "Service", "kvc-master", "Deployment", "kvc-master");
  ExpectSelects(docs, "Service", "kvc-etcd", "StatefulSet", "kvc-etcd");
  EXPECT_EQ(ServicePort(docs, "kvc-conductor"), 8000) << "the OpenAI port";
  EXPECT_EQ(ServicePort(docs, "kvc-conductor-admin"), 50051);
  EXPECT_EQ(ServicePort(docs, "kvc-master"), 50052);
  for (const char* pool : {"kvc-conductor", "kvc-prefill", "kvc-decode", "kvc-store"}) {
    ExpectSelects(docs, "PodDisruptionBudget", pool, "Deployment", pool);
  }
  ExpectSelects(docs, "PodDisruptionBudget", "kvc-etcd", "StatefulSet", "kvc-etcd");

  // Cluster-wide addresses name the Services above.
  const YAML::Node* env = Find(docs, "ConfigMap", "kvc-cluster");
  ASSERT_NE(env, nullptr);
  EXPECT_EQ((*env)["data"]["KVC_MASTER_ADDRESS"].as<std::string>(), "kvc-master:50052");
  EXPECT_EQ((*env)["data"]["KVC_CONDUCTOR_ADDRESS"].as<std::string>(), "kvc-conductor-admin:50051");
  const std::string endpoints = (*env)["data"]["KVC_ETCD_ENDPOINTS"].as<std::string>();
  for (int i = 0; i < (*etcd)["spec"]["replicas"].as<int>(); ++i) {
    EXPECT_NE(endpoints.find("http://kvc-etcd-" + std::to_string(i) + ".kvc-etcd:2379"),
              std::string::npos)
        << endpoints;
  }
}

TEST(K8sManifestTest, GpuOverlayGivesPrefillAndDecodeAGpuEach) {
  TempDir scratch;
  const std::string kubectl = FindKubectl(scratch);
  if (kubectl.empty()) GTEST_SKIP() << "no kubectl with kustomize >= 4";
  const std::vector<YAML::Node> docs =
      Render(kubectl, scratch, "deploy/k8s/overlays/gpu", scratch.path() + "/gpu.yaml");
  for (const char* name : {"kvc-prefill", "kvc-decode"}) {
    SCOPED_TRACE(name);
    const YAML::Node* d = Find(docs, "Deployment", name);
    ASSERT_NE(d, nullptr);
    const YAML::Node pod = (*d)["spec"]["template"]["spec"];
    const YAML::Node c = pod["containers"][0];
    EXPECT_GE(c["resources"]["limits"]["nvidia.com/gpu"].as<int>(0), 1);
    EXPECT_EQ(EnvVar(c, "KVC_ENGINE_BACKEND")["value"].as<std::string>(""), "cuda");
    EXPECT_EQ(c["securityContext"]["capabilities"]["add"][0].as<std::string>(""), "IPC_LOCK");
    EXPECT_TRUE(pod["nodeSelector"].IsMap());
    ExpectPinnedImage(name, c["image"].as<std::string>());
    ExpectProbe(std::string(name) + " readinessProbe", c["readinessProbe"], c);
  }
  const YAML::Node* conductor = Find(docs, "Deployment", "kvc-conductor");
  ASSERT_NE(conductor, nullptr);
  EXPECT_FALSE((*conductor)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
                           ["nvidia.com/gpu"])
      << "only the workers get GPUs";
}

// The rendered objects against the Kubernetes API schemas; a manifest with a wrongly
// typed field must fail the same check (the checker is not a no-op).
TEST(K8sManifestTest, RenderedObjectsPassTheKubernetesSchemas) {
  TempDir scratch;
  const std::string kubectl = FindKubectl(scratch);
  if (kubectl.empty()) GTEST_SKIP() << "no kubectl with kustomize >= 4";
  if (!fs::exists(ToolsDir() + "/node_modules/kubernetes-models/package.json") ||
      !fs::exists(ToolsDir() + "/node_modules/js-yaml/package.json")) {
    GTEST_SKIP() << "kubernetes-models / js-yaml not in " << ToolsDir()
                 << "/node_modules (scripts/install-deps.sh installs them)";
  }
  if (testing::RunCommand({"node", "--version"}, {}, scratch.path()).exit_code != 0) {
    GTEST_SKIP() << "node is not installed";
  }
  Render(kubectl, scratch, "deploy/k8s", scratch.path() + "/base.yaml");
  Render(kubectl, scratch, "deploy/k8s/overlays/gpu", scratch.path() + "/gpu.yaml");
  const std::string checker = Source("tests/deploy/k8s_schema_check.js");
  CommandResult ok = testing::RunCommand(
      {"node", checker, ToolsDir(), scratch.path() + "/base.yaml", scratch.path() + "/gpu.yaml"},
      {}, scratch.path());
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find(" 0 invalid"), std::string::npos) << ok.output;

  std::string broken = FileText(scratch.path() + "/base.yaml");
  const std::string from = "port: 50061";
  ASSERT_NE(broken.find(from), std::string::npos);
  broken.replace(broken.find(from), from.size(), "port: \"fifty\"");
  testing::WriteFile(scratch.path() + "/broken.yaml", broken);
  CommandResult bad = testing::RunCommand(
      {"node", checker, ToolsDir(), scratch.path() + "/broken.yaml"}, {}, scratch.path());
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("FAIL Deployment/kvc-prefill"), std::string::npos) << bad.output;
}

// `systemd-analyze verify` of every unit (templates as an instance) in a scratch root
// that has the system's units and the entrypoint at its installed path: no message at
// all. A unit with a typo gets one (the check is live).
TEST(SystemdUnitTest, UnitsVerifyCleanly) {
  TempDir root;
  if (testing::RunCommand({"systemd-analyze", "--version"}, {}, root.path()).exit_code != 0) {
    GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  }
  const fs::path units = root.path() + "/etc/systemd/system";
  fs::create_directories(units);
  fs::create_directories(root.path() + "/usr/local/bin");
  fs::create_directories(root.path() + "/usr/lib/systemd");
  // cp -a keeps the symlinks (aliases, units masked to /dev/null) as they are.
  ASSERT_EQ(testing::RunCommand(
                {"cp", "-a", "/usr/lib/systemd/system", root.path() + "/usr/lib/systemd/system"},
                {}, root.path())
                .exit_code,
            0);
  fs::copy_file(Source("deploy/container/kvc-entrypoint.sh"),
                root.path() + "/usr/local/bin/kvc-entrypoint.sh");
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(Source("deploy/systemd"))) {
    const std::string file = e.path().filename().string();
    if (!file.ends_with(".service")) continue;
    fs::copy_file(e.path(), units / file);
    names.push_back(file.ends_with("@.service") ? file.substr(0, file.size() - 9) + "@0.service"
                                                : file);
    const std::string text = FileText(e.path().string());
    EXPECT_NE(text.find("EnvironmentFile=-/etc/kvc/"), std::string::npos) << file;
    EXPECT_NE(text.find("Restart=always"), std::string::npos) << file;
    EXPECT_NE(text.find("After=network-online.target etcd.service"), std::string::npos) << file;
    EXPECT_NE(text.find("ExecStart=/usr/local/bin/kvc-entrypoint.sh "), std::string::npos) << file;
    std::smatch stop;
    ASSERT_TRUE(std::regex_search(text, stop, std::regex("\nTimeoutStopSec=([0-9]+)\n"))) << file;
    const std::string role = file.substr(4, file.find_first_of("@.") - 4);
    EXPECT_GT(std::stoi(stop[1]) * 1000, StopBudgetMs(role) + 2000)
        << file << ": TimeoutStopSec must outlast the role's drain and shutdown grace";
    if (file.starts_with("kvc-prefill") || file.starts_with("kvc-decode") ||
        file.starts_with("kvc-store")) {
      EXPECT_NE(text.find("LimitMEMLOCK=infinity"), std::string::npos) << file;
    }
  }
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names, (std::vector<std::string>{"kvc-conductor.service", "kvc-decode@0.service",
                                             "kvc-master@0.service", "kvc-prefill@0.service",
                                             "kvc-store@0.service"}));
  std::vector<std::string> argv = {"systemd-analyze", "verify", "--root=" + root.path()};
  argv.insert(argv.end(), names.begin(), names.end());
  CommandResult clean = testing::RunCommand(argv, {}, root.path());
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_EQ(clean.output, "") << "systemd-analyze verify found problems";

  std::ofstream(units / "kvc-conductor.service", std::ios::app)
      << "\n[Service]\nRestart=sometimes\n";
  CommandResult broken = testing::RunCommand(
      {"systemd-analyze", "verify", "--root=" + root.path(), "kvc-conductor.service"}, {},
      root.path());
  EXPECT_NE(broken.output.find("sometimes"), std::string::npos) << broken.output;
}

// Metric names the processes export: string literals "kvc_..." in non-test sources.
std::set<std::string> ExportedMetricNames() {
  std::set<std::string> names;
  static const std::regex kLiteral("\"(kvc_[a-z0-9_]+)\"");
  for (const char* dir : {"conductor", "decode", "prefill", "store", "transfer", "src", "worker"}) {
    if (!fs::exists(Source(dir))) continue;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(Source(dir))) {
      const std::string file = e.path().filename().string();
      if (!file.ends_with(".cc") || file.ends_with("_test.cc")) continue;
      const std::string text = FileText(e.path().string());
      for (std::sregex_iterator it(text.begin(), text.end(), kLiteral), end; it != end; ++it) {
        names.insert((*it)[1]);
      }
    }
  }
  return names;
}

TEST(GrafanaDashboardTest, QueriesOnlyMetricsTheProcessesExport) {
  const nlohmann::json dash =
      nlohmann::json::parse(FileText(Source("deploy/grafana/kvc-dashboard.json")), nullptr, false);
  ASSERT_TRUE(dash.is_object()) << "deploy/grafana/kvc-dashboard.json is not valid JSON";
  EXPECT_EQ(dash["uid"], "kvc-cluster");
  const std::set<std::string> exported = ExportedMetricNames();
  ASSERT_GT(exported.size(), 20u);
  static const std::regex kName("kvc_[a-z0-9_]+");
  std::set<std::string> used;
  int panels_with_queries = 0;
  for (const nlohmann::json& panel : dash["panels"]) {
    if (panel["type"] == "row") continue;
    ASSERT_TRUE(panel.contains("targets")) << panel["title"];
    ++panels_with_queries;
    for (const nlohmann::json& target : panel["targets"]) {
      const std::string expr = target["expr"];
      for (std::sregex_iterator it(expr.begin(), expr.end(), kName), end; it != end; ++it) {
        std::string name = it->str();
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
          if (name.ends_with(suffix) && !exported.count(name)) {
            name = name.substr(0, name.size() - std::string(suffix).size());
          }
        }
        used.insert(name);
        EXPECT_TRUE(exported.count(name))
            << panel["title"] << ": " << name << " is not exported by any process";
      }
    }
  }
  EXPECT_GE(panels_with_queries, 15);
  for (const char* family : {"kvc_conductor_ttft_seconds", "kvc_store_bytes",
                             "kvc_transfer_bytes_total", "kvc_conductor_node_up"}) {
    EXPECT_TRUE(used.count(family)) << family << " has no panel";
  }
}

// Every shared library of the built binaries comes from a Debian package listed in the
// Containerfile's RUNTIME_PACKAGES (libraries outside dpkg, such as a local CUDA
// toolkit, are reported and need a CUDA runtime base; the image builds without CUDA).
TEST(ContainerfileTest, RuntimePackagesCoverTheBinariesSharedLibraries) {
  TempDir scratch;
  if (testing::RunCommand({"dpkg-query", "--version"}, {}, scratch.path()).exit_code != 0) {
    GTEST_SKIP() << "not a Debian system (no dpkg)";
  }
  const std::string containerfile = FileText(Source("deploy/container/Containerfile"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(containerfile, m, std::regex("ARG RUNTIME_PACKAGES=\"([^\"]*)\"")));
  std::set<std::string> listed;
  {
    std::string list = m[1];
    std::replace(list.begin(), list.end(), '\\', ' ');
    std::istringstream in(list);
    for (std::string p; in >> p;) listed.insert(p);
  }
  std::vector<std::string> ldd = {"ldd"};
  for (const char* b : {"kvc-master", "kvc-conductor", "kvc-prefill", "kvc-decode", "kvc-store",
                        "kvcctl", "kvc-bench", "kvc-model", "libkvc_sp_shim.so"}) {
    ldd.push_back(testing::BinDir() + "/" + b);
  }
  CommandResult libs = testing::RunCommand(ldd, {}, scratch.path());
  ASSERT_EQ(libs.exit_code, 0) << libs.output;
  static const std::regex kLib("=> (/[^ ]+) \\(");
  std::set<std::string> paths;
  for (std::sregex_iterator it(libs.output.begin(), libs.output.end(), kLib), end; it != end;
       ++it) {
    paths.insert(fs::canonical((*it)[1].str()).string());
  }
  ASSERT_GT(paths.size(), 10u) << libs.output;
  // One dpkg -S for all: "package[:arch]: /path" per known file. Merged /usr: dpkg may
  // know a file under /lib that ldd found under /usr/lib, or the other way round.
  std::vector<std::string> query = {"dpkg", "-S"};
  for (const std::string& path : paths) {
    query.push_back(path);
    query.push_back(path.starts_with("/usr/lib/") ? path.substr(4) : "/usr" + path);
  }
  const std::string owners = testing::RunCommand(query, {}, scratch.path()).output;
  std::vector<std::string> outside_dpkg;
  for (const std::string& path : paths) {
    const std::string alt = path.starts_with("/usr/lib/") ? path.substr(4) : "/usr" + path;
    std::string package;
    std::istringstream lines(owners);
    for (std::string line; std::getline(lines, line);) {
      const size_t sep = line.find(": ");
      if (sep == std::string::npos) continue;
      const std::string file = line.substr(sep + 2);
      if (file == path || file == alt) package = line.substr(0, line.find_first_of(":,"));
    }
    if (package.empty()) {
      outside_dpkg.push_back(path);
      continue;
    }
    EXPECT_TRUE(listed.count(package))
        << path << " comes from " << package << ", missing from RUNTIME_PACKAGES";
  }
  for (const std::string& path : outside_dpkg) {
    EXPECT_TRUE(path.starts_with("/usr/local/cuda")) << path << " is from no Debian package";
    std::cout << "not from dpkg (CUDA build only): " << path << "\n";
  }
}

}  // namespace
}  // namespace kvc
