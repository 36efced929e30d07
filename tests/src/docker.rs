//! A real dockerd (Debian's docker.io) for a test host, with everything it touches made private.
//!
//! Docker's plugin directory (`/run/docker/plugins`) and weave's proxy socket directory
//! (`/var/run/weave`) are fixed paths, so each Docker host lives in a mount namespace of its own
//! with a tmpfs over `/run`; `/run/netns` stays visible (a slave mount, so namespaces made later
//! appear too). A holder process keeps that mount namespace alive; dockerd, the docker CLI and
//! the host's weave-daemon all run in it (and in the host's network namespace) through
//! `nsenter`. dockerd gets its own data root (under the host's data directory), exec root,
//! pidfile, socket and cgroup parent, and the vfs storage driver. Its image is a `docker import`
//! of Debian's busybox-static with a symlink per applet, made by the test.
//!
//! Dropping the guard kills the containers (through their cgroups, so no shim or plugin call
//! can stall it), dockerd and every process in the mount namespace, and removes the cgroups and
//! the data root. Cgroups of test processes that died are swept by the next run.

use crate::cluster::Host;
use crate::daemon::Daemon;
use crate::netns::Output;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The image every test container runs: busybox, with `sh`, `ping`, `ip`, `nslookup`, ...
pub const IMAGE: &str = "weave-e2e/busybox";
/// Debian's docker CLI (another `docker` earlier in PATH may be a different version).
const DOCKER_CLI: &str = "/usr/bin/docker";
/// dockerd's socket inside the host's private /run.
pub const DOCKER_SOCK: &str = "/run/docker.sock";
/// How long dockerd may take to answer after it starts.
const START: Duration = Duration::from_secs(60);
/// Where the cgroup controllers are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A dockerd running for one test host; see the module comment.
pub struct Docker {
    holder: Child,
    dockerd: Option<Child>,
    /// The host's namespace name (for messages) and the dockerd's own directory.
    ns_name: String,
    dir: PathBuf,
    /// The cgroup parent of the containers (one path segment).
    cgroup: String,
    dockerd_log: PathBuf,
}

impl Docker {
    /// Starts dockerd for `host` and imports the test image; returns once both are ready.
    pub fn start(host: &Host) -> Docker {
        sweep_stale_cgroups();
        let dir = host.data_dir.join("docker");
        std::fs::create_dir_all(&dir).expect("create the docker directory");
        let holder = start_holder(&host.ns.name, &dir);
        let cgroup = format!("{}-docker", host.ns.name);
        let mut d = Docker {
            holder,
            dockerd: None,
            ns_name: host.ns.name.clone(),
            dockerd_log: dir.join("dockerd.log"),
            dir,
            cgroup,
        };
        d.start_dockerd();
        d.import_image();
        d
    }

    /// A command that runs `program` in this host's network and mount namespaces.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t").arg(self.holder.id().to_string()).args(["-m", "-n", "--"]).arg(program);
        c
    }

    /// Runs `program ARGS` here and collects its output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program} in {}: {e}", self.ns_name));
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `docker ARGS` against this host's dockerd.
    pub fn docker(&self, args: &[&str]) -> Output {
        let mut full = vec!["-H", "unix:///run/docker.sock"];
        full.extend_from_slice(args);
        self.exec(DOCKER_CLI, &full)
    }

    /// `docker ARGS`, which must succeed; returns its stdout, trimmed.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.ok(),
            "docker {} on {}: {}\n{}",
            args.join(" "),
            self.ns_name,
            out.stderr.trim(),
            self.log_tail()
        );
        out.stdout.trim().to_string()
    }

    /// `docker inspect -f FORMAT ID`.
    pub fn inspect(&self, id: &str, format: &str) -> String {
        self.docker_ok(&["inspect", "-f", format, id])
    }

    /// The pid of a running container's first process.
    pub fn pid(&self, id: &str) -> u32 {
        self.inspect(id, "{{.State.Pid}}").parse().expect("a pid")
    }

    /// Runs `program ARGS` inside a running container's network namespace (from the test
    /// runner, so tools the image lacks, such as dig, can be used).
    pub fn in_container(&self, id: &str, program: &str, args: &[&str]) -> Output {
        let pid = self.pid(id).to_string();
        let out = Command::new("nsenter")
            .args(["-t", &pid, "-n", "--", program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program} in container {id}: {e}"));
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts weave-daemon for `host` in this mount namespace, talking to this dockerd, with the
    /// harness's defaults plus `extra`.
    pub fn start_daemon(&self, host: &Host, extra: &[&str]) -> Daemon {
        let args = host.daemon_args(&format!("unix://{DOCKER_SOCK}"), extra);
        Daemon::spawn(
            self.command(crate::binary("weave-daemon").to_str().expect("utf-8 path")),
            &host.data_dir,
            &host.ns.name,
            &args,
        )
    }

    /// The `weave` CLI, run in this host's namespaces.
    pub fn weave(&self, args: &[&str]) -> Output {
        self.exec(crate::binary("weave").to_str().expect("utf-8 path"), args)
    }

    /// Whether dockerd answers.
    pub fn answers(&self) -> bool {
        self.docker(&["version", "-f", "{{.Server.Version}}"]).ok()
    }

    /// (Re)starts dockerd and waits until it answers.
    pub fn start_dockerd(&mut self) {
        assert!(self.dockerd.is_none(), "dockerd already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dockerd_log)
            .expect("open the dockerd log");
        let data_root = self.dir.join("root");
        let child = self
            .command("dockerd")
            .args(["--data-root", data_root.to_str().expect("utf-8 path")])
            .args(["--exec-root", "/run/docker", "--pidfile", "/run/docker.pid"])
            .args(["-H", &format!("unix://{DOCKER_SOCK}")])
            .args(["--storage-driver", "vfs", "--cgroup-parent", &format!("/{}", self.cgroup)])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd (is docker.io installed? scripts/setup.sh installs it)");
        self.dockerd = Some(child);
        let deadline = Instant::now() + START;
        while !self.answers() {
            if let Some(Ok(Some(st))) = self.dockerd.as_mut().map(|c| c.try_wait()) {
                panic!("dockerd exited ({st}) on {}:\n{}", self.ns_name, self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within {START:?}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops dockerd (SIGTERM, then SIGKILL after a few seconds); containers die with it.
    pub fn stop_dockerd(&mut self) {
        let Some(mut child) = self.dockerd.take() else { return };
        // SAFETY: kill(2) on the dockerd we spawned and have not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn import_image(&self) {
        let tar = busybox_tar(&self.dir.join("image"));
        let mut child = self
            .command(DOCKER_CLI)
            .args(["-H", &format!("unix://{DOCKER_SOCK}"), "import", "-", IMAGE])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn docker import");
        let bytes = std::fs::read(tar).expect("read the image tar");
        child.stdin.take().expect("stdin").write_all(&bytes).expect("write the image tar");
        let out = child.wait_with_output().expect("docker import");
        assert!(out.status.success(), "docker import: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The end of dockerd's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.dockerd_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!("--- dockerd log (last lines) ---\n{}", lines[lines.len().saturating_sub(30)..].join("\n"))
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        // Containers first: dockerd then has nothing to stop and no plugin to ask.
        kill_cgroup(&self.cgroup);
        self.stop_dockerd();
        kill_mount_namespace(self.holder.id());
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        kill_cgroup(&self.cgroup);
        remove_cgroup(&self.cgroup);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the process that holds the host's private mount namespace, and waits until it has
/// made /run private.
fn start_holder(ns: &str, dir: &Path) -> Child {
    let keep = dir.join("netns-keep");
    std::fs::create_dir_all(&keep).expect("create the netns mount point");
    // /run/netns is bound aside, /run covered, and the binding moved back on top.
    let script = format!(
        "set -e; mount --make-rslave /; mount --rbind /run/netns {keep}; \
         mount -t tmpfs -o mode=755 weave-e2e /run; mkdir -p /run/netns /run/docker/plugins; \
         mount --move {keep} /run/netns; echo ready; exec sleep infinity",
        keep = keep.display()
    );
    let mut child = Command::new("nsenter")
        .args(["--net=/run/netns/".to_string() + ns, "--".into(), "unshare".into()])
        .args(["--mount", "--propagation", "slave", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the mount namespace holder");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let _ = out.read_line(&mut line);
    if line.trim() != "ready" {
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait for the holder");
        panic!("making a private /run for {ns} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    child
}

/// SIGKILLs every process whose mount namespace is the holder's (dockerd, containerd, shims,
/// weave-daemon), the holder included.
fn kill_mount_namespace(holder: u32) {
    let Ok(ours) = std::fs::read_link(format!("/proc/{holder}/ns/mnt")) else { return };
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else { continue };
        if std::fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|m| m == ours) {
            // SAFETY: kill(2) on a process in the mount namespace this test made.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The directories of cgroup `name` in every mounted hierarchy (v1 controllers or v2).
fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    let mut dirs = vec![root.join(name)];
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            dirs.push(e.path().join(name));
        }
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// SIGKILLs every process in cgroup `name` and below.
fn kill_cgroup(name: &str) {
    for dir in cgroup_dirs(name) {
        kill_tree(&dir);
    }
}

fn kill_tree(dir: &Path) {
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            // SAFETY: kill(2) on a process in a cgroup this test's dockerd made.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            kill_tree(&e.path());
        }
    }
}

/// Removes cgroup `name` and its children, once their processes are gone.
fn remove_cgroup(name: &str) {
    for dir in cgroup_dirs(name) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while remove_tree(&dir).is_err() && Instant::now() < deadline {
            kill_tree(&dir);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn remove_tree(dir: &Path) -> std::io::Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            remove_tree(&e.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// Kills and removes the container cgroups of test processes that no longer exist.
fn sweep_stale_cgroups() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut names = std::collections::BTreeSet::new();
        for dir in [PathBuf::from(CGROUP_ROOT), Path::new(CGROUP_ROOT).join("pids")] {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if crate::netns::is_stale(&name) {
                        names.insert(name);
                    }
                }
            }
        }
        for n in names {
            kill_cgroup(&n);
            remove_cgroup(&n);
        }
    });
}

/// A tar of Debian's busybox-static as a root filesystem, made in `base`.
fn busybox_tar(base: &Path) -> PathBuf {
    {
        let root = base.join("root");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(root.join(d)).expect("create the image root");
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox"))
            .expect("copy /bin/busybox (is busybox-static installed? scripts/setup.sh installs it)");
        let list = Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
            }
        }
        let tar = base.join("busybox.tar");
        let st =
            Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().expect("run tar");
        assert!(st.success(), "tar of the busybox root failed");
        let _ = std::fs::remove_dir_all(&root);
        tar
    }
}
