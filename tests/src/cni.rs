//! Running the CNI plugins as a runtime does: `CNI_*` variables and the configuration on
//! stdin, inside a host's network namespace but in the machine's mount namespace (`nsenter
//! --net`), so namespaces made meanwhile are visible to the daemon as on a real host.

use crate::cluster::Host;
use crate::netns::{unique_name, Output};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `weave setup-cni` into directories of the test's own; removed on drop.
pub struct CniDirs {
    pub root: PathBuf,
    pub bin: PathBuf,
    pub conf: PathBuf,
}

impl CniDirs {
    /// Installs the plugins and `10-weave.conflist` with `weave setup-cni`.
    pub fn install() -> CniDirs {
        let root = std::env::temp_dir().join("weave-e2e").join(unique_name("cni"));
        let (bin, conf) = (root.join("bin"), root.join("net.d"));
        let out = Command::new(crate::binary("weave"))
            .args(["setup-cni", "--cni-bin-dir"])
            .arg(&bin)
            .arg("--cni-conf-dir")
            .arg(&conf)
            .output()
            .expect("run weave setup-cni");
        assert!(out.status.success(), "weave setup-cni: {}", String::from_utf8_lossy(&out.stderr));
        CniDirs { root, bin, conf }
    }

    /// `CNI_PATH`: our plugins, then Debian's (portmap, loopback, host-local, bridge).
    pub fn cni_path(&self) -> String {
        format!("{}:/usr/lib/cni", self.bin.display())
    }
}

impl Drop for CniDirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// One plugin run: exit status, stdout (parsed when it is JSON) and stderr.
#[derive(Debug)]
pub struct CniOutput {
    pub status: i32,
    pub stdout: String,
    pub json: Option<Value>,
    pub stderr: String,
}

impl CniOutput {
    pub fn ok(&self) -> bool {
        self.status == 0
    }

    /// The CNI error code of a failed run.
    pub fn code(&self) -> Option<u64> {
        self.json.as_ref()?.get("code")?.as_u64()
    }
}

/// What an attachment-scoped invocation needs.
pub struct Attachment<'a> {
    pub container_id: &'a str,
    pub netns: &'a str,
    pub ifname: &'a str,
    pub args: &'a str,
}

impl Host {
    /// Runs `plugin` (a path) for `command` in this host's network namespace.
    pub fn cni(
        &self,
        plugin: &Path,
        command: &str,
        att: Option<&Attachment>,
        cni_path: &str,
        stdin: &Value,
    ) -> CniOutput {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.ns.name)).arg("--").arg(plugin);
        for (k, _) in std::env::vars() {
            if k.starts_with("CNI_") || k == "WEAVE_HTTP_ADDR" {
                cmd.env_remove(k);
            }
        }
        cmd.env("CNI_COMMAND", command).env("CNI_PATH", cni_path);
        if let Some(a) = att {
            cmd.env("CNI_CONTAINERID", a.container_id).env("CNI_NETNS", a.netns).env("CNI_IFNAME", a.ifname);
            cmd.env("CNI_ARGS", a.args);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", plugin.display()));
        let input = stdin.to_string();
        child.stdin.take().expect("piped").write_all(input.as_bytes()).expect("write the plugin's stdin");
        let out = child.wait_with_output().expect("wait for the plugin");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        CniOutput {
            status: out.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).ok(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `program args` in this host's network namespace and the machine's mount namespace.
    pub fn nsenter(&self, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.ns.name))
            .arg("--")
            .arg(program)
            .args(args)
            .envs(envs.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("run {program} in {}: {e}", self.ns.name));
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
