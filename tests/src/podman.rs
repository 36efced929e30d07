//! podman on a test host: a private configuration (CNI backend, the test's own plugin and
//! network directories with weave's installed by `weave setup-cni`, its own storage, run
//! state and locks: podman's defaults under /run and /dev/shm are machine-wide), and a
//! busybox image imported from a root made here. podman runs in the host's network namespace
//! and the machine's mount namespace, so the namespaces it makes are visible to the daemon.
//! Dropping it removes every container (so the plugins' DEL runs while the daemon is up) and
//! the storage.

use crate::cluster::Host;
use crate::cni::CniDirs;
use crate::netns::{unique_name, Output};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The image every test container runs.
pub const IMAGE: &str = "localhost/weave-e2e-busybox:latest";

pub struct Podman {
    ns: String,
    pub dir: PathBuf,
    runroot: PathBuf,
    conf_file: PathBuf,
    pub cni: CniDirs,
}

impl Podman {
    pub fn new(host: &Host) -> Podman {
        let name = unique_name("pm");
        let dir = std::env::temp_dir().join("weave-e2e").join(&name);
        // podman refuses a run root of 50 characters or more.
        let runroot = PathBuf::from("/tmp").join(format!("wpr-{name}"));
        assert!(runroot.as_os_str().len() < 50, "run root {} is too long", runroot.display());
        std::fs::create_dir_all(&dir).expect("create the podman directory");
        let cni = CniDirs::install();
        let conf_file = dir.join("containers.conf");
        let conf = format!(
            "[containers]\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [network]\n\
             network_backend = \"cni\"\n\
             cni_plugin_dirs = [\"{}\", \"/usr/lib/cni\"]\n\
             network_config_dir = \"{}\"\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             tmp_dir = \"{}\"\n\
             lock_type = \"file\"\n",
            cni.bin.display(),
            cni.conf.display(),
            runroot.join("tmp").display()
        );
        std::fs::write(&conf_file, conf).expect("write containers.conf");
        let p = Podman { ns: host.ns.name.clone(), dir, runroot, conf_file, cni };
        let tar = p.make_image_tar();
        let out = p.run(&["import", tar.to_str().expect("utf-8"), IMAGE]);
        assert!(out.ok(), "podman import: {out:?}");
        p
    }

    /// `podman ARGS` with this setup.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().expect("run podman");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `podman run -d --name NAME --network weave IMAGE sleep 3600`; panics on failure.
    pub fn start(&self, name: &str) {
        let out = self.run(&["run", "-d", "--name", name, "--network", "weave", IMAGE, "sleep", "3600"]);
        assert!(out.ok(), "podman run {name}: {out:?}");
    }

    /// `podman exec NAME ARGS`.
    pub fn exec(&self, name: &str, args: &[&str]) -> Output {
        let mut full = vec!["exec", name];
        full.extend_from_slice(args);
        self.run(&full)
    }

    /// The container's id, as its CNI_CONTAINERID.
    pub fn id(&self, name: &str) -> String {
        let out = self.run(&["inspect", "--format", "{{.Id}}", name]);
        assert!(out.ok(), "podman inspect {name}: {out:?}");
        out.stdout.trim().to_string()
    }

    fn command(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.ns))
            .arg("--")
            .arg("podman")
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(&self.runroot)
            .env("CONTAINERS_CONF", &self.conf_file);
        c
    }

    /// A root with busybox and a link per applet the tests use, as a tar for `podman import`.
    fn make_image_tar(&self) -> PathBuf {
        let root = self.dir.join("image");
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).expect("create the image root");
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .expect("copy busybox (apt-get install busybox-static)");
        for applet in ["sh", "ip", "ping", "sleep", "cat", "nslookup", "hostname", "wget", "nc"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("link an applet");
        }
        let tar = self.dir.join("image.tar");
        let ok = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status();
        assert!(ok.map(|s| s.success()).unwrap_or(false), "tar the image root");
        tar
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers first, while the daemon still runs, so DEL releases their addresses.
        let _ = self.run(&["rm", "-af", "-t", "0"]);
        let _ = self.run(&["system", "reset", "-f"]);
        unmount_under(&self.dir);
        unmount_under(&self.runroot);
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.runroot);
    }
}

/// Unmounts whatever podman left mounted below `dir` (after a crash), deepest first.
fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else { return };
    let prefix = dir.display().to_string();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|t| t.starts_with(&prefix))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let _ = Command::new("umount").arg("-l").arg(t).status();
    }
}
