//! Unit tests of the service's step order and rollback: every port is a fake that logs each
//! call and fails on demand, so a failure can be injected at each step. (The real ports are
//! exercised end to end in tests/tests/attach.rs; only fakes can fail a step on purpose.)

use super::journal::{AttachIntent, Intent, Journal, Namespace, Op};
use super::kernel::{Attached, Iface, Kernel, Observed, Plumb, Plumbed};
use super::ports::{AddressBook, Names};
use super::target::NsRef;
use super::{AttachError, AttachService, AttachSpec, Ports, TargetEvent};
use crate::store::StoreError;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use weave_ipam::Cidr;
use weave_netdev::Netns;

/// What every fake shares: the log of calls, the faults to inject, and the state they keep.
#[derive(Default)]
struct World {
    log: Vec<String>,
    /// Steps that fail ("allocate", "claim", "record#2", ...; `#N` is the N-th call).
    faults: BTreeSet<String>,
    calls: BTreeMap<String, usize>,
    owned: BTreeMap<String, Vec<Ipv4Net>>,
    next: u8,
    /// The target's interface, as the kernel fake keeps it.
    iface: Option<Iface>,
    intents: BTreeMap<String, Intent>,
    /// The Docker plugin's pairs by host end: whole or half-made.
    endpoints: BTreeMap<String, bool>,
}

type Shared = Arc<Mutex<World>>;

impl World {
    /// Logs the call; an error when the step is to fail.
    fn call(&mut self, step: &str, detail: String) -> Result<(), AttachError> {
        let n = self.calls.entry(step.to_string()).or_default();
        *n += 1;
        let numbered = format!("{step}#{n}");
        let fail = self.faults.contains(step) || self.faults.contains(&numbered);
        self.log.push(
            if fail { format!("{step} {detail} FAILS") } else { format!("{step} {detail}") }
                .trim()
                .to_string(),
        );
        if fail {
            return Err(AttachError::Internal(format!("injected failure of {step}")));
        }
        Ok(())
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn list(a: &[Ipv4Net]) -> String {
    a.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")
}

struct Book(Shared);
struct Dns(Shared);
struct Kern(Shared);
struct Jour(Shared);

impl AddressBook for Book {
    fn owned(&self, id: &str) -> Vec<Ipv4Net> {
        self.0.lock().unwrap().owned.get(id).cloned().unwrap_or_default()
    }

    fn lookup(&self, id: &str, _subnet: Option<Cidr>) -> Result<Vec<Ipv4Net>, AttachError> {
        Ok(self.owned(id))
    }

    async fn allocate(&self, id: &str, _subnet: Option<Cidr>) -> Result<Ipv4Net, AttachError> {
        let mut w = self.0.lock().unwrap();
        w.call("allocate", String::new())?;
        if let Some(a) = w.owned.get(id).and_then(|v| v.first()) {
            return Ok(*a);
        }
        w.next += 1;
        let a = net(&format!("10.32.0.{}/12", w.next));
        w.owned.entry(id.into()).or_default().push(a);
        Ok(a)
    }

    async fn claim(&self, id: &str, addr: Ipv4Net) -> Result<(), AttachError> {
        let mut w = self.0.lock().unwrap();
        w.call("claim", addr.to_string())?;
        let v = w.owned.entry(id.into()).or_default();
        if !v.contains(&addr) {
            v.push(addr);
        }
        Ok(())
    }

    async fn release(&self, id: &str, addrs: &[Ipv4Net]) -> Result<Vec<Ipv4Net>, AttachError> {
        let mut w = self.0.lock().unwrap();
        w.call("release", list(addrs))?;
        let v = w.owned.entry(id.into()).or_default();
        let out: Vec<_> = addrs.iter().filter(|a| v.contains(a)).copied().collect();
        v.retain(|a| !addrs.contains(a));
        Ok(out)
    }

    async fn release_all(&self, id: &str) -> Result<Vec<Ipv4Net>, AttachError> {
        let mut w = self.0.lock().unwrap();
        w.call("release_all", String::new())?;
        Ok(w.owned.remove(id).unwrap_or_default())
    }
}

impl Names for Dns {
    fn target_name(&self, hostname: &str) -> Option<String> {
        Some(format!("{hostname}.weave.local."))
    }

    fn check_name(&self, name: &str) -> Result<String, AttachError> {
        Ok(name.to_string())
    }

    async fn add(&self, fqdn: &str, _id: &str, addr: Ipv4Net) -> Result<(), AttachError> {
        self.0.lock().unwrap().call("name", format!("{fqdn} {addr}"))
    }

    async fn remove(&self, _id: &str, addr: Ipv4Net) {
        let _ = self.0.lock().unwrap().call("unname", addr.to_string());
    }

    async fn forget(&self, _id: &str) {
        let _ = self.0.lock().unwrap().call("forget", String::new());
    }
}

impl Kernel for Kern {
    fn inspect(&self, _ns: &Netns, _ifname: &str) -> Result<Option<Iface>, AttachError> {
        Ok(self.0.lock().unwrap().iface.clone())
    }

    fn observe(&self, _ns: &Netns, _ifname: &str) -> Result<Option<Observed>, AttachError> {
        let w = self.0.lock().unwrap();
        Ok(w.iface.clone().map(|i| Observed {
            mac: [2, 0, 0, 0, 0, 1],
            addrs: i.addrs,
            routes: vec![],
            ours: i.ours,
        }))
    }

    fn plumb(&self, _ns: &Netns, p: &Plumb) -> Result<Plumbed, AttachError> {
        let mut w = self.0.lock().unwrap();
        let routes: Vec<String> = p
            .link
            .routes
            .iter()
            .map(|(d, g)| format!(" {d}>{}", g.map(|g| g.to_string()).unwrap_or_default()))
            .collect();
        w.call("plumb", format!("{}{}", list(&p.addrs), routes.concat()))?;
        let created = w.iface.is_none();
        let iface = w.iface.get_or_insert(Iface { ours: true, addrs: vec![] });
        let added: Vec<_> = p.addrs.iter().filter(|a| !iface.addrs.contains(a)).copied().collect();
        iface.addrs.extend(&added);
        let target = Attached { id: p.id.clone(), mac: [2, 0, 0, 0, 0, 1], addrs: iface.addrs.clone() };
        Ok(Plumbed { created, added, target })
    }

    fn undo_plumb(
        &self,
        _ns: Option<&Netns>,
        _id: &str,
        _ifname: &str,
        added: &[Ipv4Net],
        delete_if: bool,
    ) -> Result<(), AttachError> {
        let mut w = self.0.lock().unwrap();
        w.call("unplumb", format!("{} delete_if={delete_if}", list(added)))?;
        if delete_if {
            w.iface = None;
        } else if let Some(i) = &mut w.iface {
            i.addrs.retain(|a| !added.contains(a));
        }
        Ok(())
    }

    fn remove_addrs(
        &self,
        _ns: &Netns,
        _ifname: &str,
        addrs: Option<&[Ipv4Net]>,
    ) -> Result<Vec<Ipv4Net>, AttachError> {
        let mut w = self.0.lock().unwrap();
        w.call("remove_addrs", addrs.map(list).unwrap_or("all".into()))?;
        let Some(i) = &mut w.iface else { return Ok(vec![]) };
        let gone: Vec<_> = i.addrs.iter().filter(|a| addrs.is_none_or(|w| w.contains(a))).copied().collect();
        i.addrs.retain(|a| !gone.contains(a));
        if i.addrs.is_empty() {
            w.iface = None;
        }
        Ok(gone)
    }

    fn port_ids(&self) -> Result<Vec<String>, AttachError> {
        Ok(vec![])
    }

    fn list(&self, _located: &BTreeMap<String, NsRef>) -> Result<Vec<Attached>, AttachError> {
        Ok(vec![])
    }

    fn bridge(&self) -> Result<Attached, AttachError> {
        Ok(Attached { id: "weave:expose".into(), mac: [0; 6], addrs: vec![] })
    }

    fn expose(&self, addrs: &[Ipv4Net], _masquerade: bool) -> Result<Vec<Ipv4Net>, AttachError> {
        self.0.lock().unwrap().call("expose", list(addrs))?;
        Ok(addrs.to_vec())
    }

    fn hide(&self, addrs: Option<&[Ipv4Net]>) -> Result<Vec<Ipv4Net>, AttachError> {
        self.0.lock().unwrap().call("hide", addrs.map(list).unwrap_or("all".into()))?;
        Ok(addrs.unwrap_or_default().to_vec())
    }

    fn sweep(&self) -> Result<Vec<String>, AttachError> {
        Ok(vec![])
    }

    fn create_endpoint(&self, host: &str, _peer: &str) -> Result<[u8; 6], AttachError> {
        let mut w = self.0.lock().unwrap();
        w.call("create_endpoint", host.into())?;
        w.endpoints.insert(host.into(), true);
        Ok([2, 0, 0, 0, 0, 2])
    }

    fn endpoint_whole(&self, host: &str) -> Result<bool, AttachError> {
        Ok(self.0.lock().unwrap().endpoints.get(host) == Some(&true))
    }

    fn delete_endpoint(&self, host: &str, _peer: &str) -> Result<bool, AttachError> {
        let mut w = self.0.lock().unwrap();
        w.call("delete_endpoint", host.into())?;
        Ok(w.endpoints.remove(host).is_some())
    }

    fn unjoined_endpoints(&self) -> Result<Vec<String>, AttachError> {
        Ok(self.0.lock().unwrap().endpoints.keys().cloned().collect())
    }
}

impl Journal for Jour {
    fn record(&self, intent: &Intent) -> Result<(), StoreError> {
        let mut w = self.0.lock().unwrap();
        let detail = match &intent.op {
            Op::Attach(a) => format!("attach addrs={}", a.addrs.as_deref().map(list).unwrap_or("?".into())),
            Op::Detach { .. } => "detach".into(),
            Op::Expose(e) => format!("expose addrs={}", e.addrs.as_deref().map(list).unwrap_or("?".into())),
            Op::Hide { .. } => "hide".into(),
            Op::CreateEndpoint { host, .. } => format!("create_endpoint {host}"),
            Op::DeleteEndpoint { host } => format!("delete_endpoint {host}"),
        };
        w.call("record", detail)
            .map_err(|e| StoreError::Io { path: "fake.db".into(), detail: e.to_string() })?;
        w.intents.insert(intent.id.clone(), intent.clone());
        Ok(())
    }

    fn clear(&self, id: &str) -> Result<(), StoreError> {
        let mut w = self.0.lock().unwrap();
        let _ = w.call("clear", String::new());
        w.intents.remove(id);
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<Intent>, StoreError> {
        Ok(self.0.lock().unwrap().intents.get(id).cloned())
    }

    fn pending(&self) -> Result<Vec<Intent>, StoreError> {
        Ok(self.0.lock().unwrap().intents.values().cloned().collect())
    }
}

struct Fake;

impl Ports for Fake {
    type Addresses = Book;
    type Names = Dns;
    type Kernel = Kern;
    type Journal = Jour;
}

fn service(faults: &[&str]) -> (Arc<AttachService<Fake>>, Shared) {
    let w: Shared = Arc::default();
    w.lock().unwrap().faults = faults.iter().map(|s| s.to_string()).collect();
    let s = AttachService::<Fake>::new(Book(w.clone()), Dns(w.clone()), Kern(w.clone()), Jour(w.clone()));
    (s, w)
}

/// A target whose namespace opens for real (ours); the fakes never enter it.
fn me() -> String {
    format!("pid:{}", std::process::id())
}

fn spec(addrs: &[&str]) -> AttachSpec {
    let mut s = AttachSpec::new(&me(), addrs.iter().map(|a| a.to_string()).collect());
    s.hostname = Some("web".into());
    s
}

fn log(w: &Shared) -> Vec<String> {
    std::mem::take(&mut w.lock().unwrap().log)
}

fn owned(w: &Shared) -> Vec<Ipv4Net> {
    w.lock().unwrap().owned.get(&me()).cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_attach_records_allocates_plumbs_names_then_clears() {
    let (s, w) = service(&[]);
    let mut events = s.subscribe();
    let a = s.attach(spec(&["net:default", "10.32.9.9/12"])).await.unwrap();
    assert_eq!(a.addrs, [net("10.32.0.1/12"), net("10.32.9.9/12")]);
    assert_eq!(
        log(&w),
        [
            "record attach addrs=?",
            "allocate",
            "claim 10.32.9.9/12",
            "record attach addrs=10.32.0.1/12,10.32.9.9/12",
            "plumb 10.32.0.1/12,10.32.9.9/12",
            "name web.weave.local. 10.32.0.1/12",
            "name web.weave.local. 10.32.9.9/12",
            "clear",
        ]
    );
    assert!(w.lock().unwrap().intents.is_empty());
    assert!(matches!(events.try_recv(), Ok(TargetEvent::Attached { addrs, .. }) if addrs == a.addrs));
}

/// Each step fails in turn: what came before is undone in reverse, and nothing after runs.
#[tokio::test]
async fn a_failed_step_undoes_the_completed_ones_in_reverse() {
    let cases: &[(&str, &[&str])] = &[
        // The intent cannot be recorded: nothing at all happens.
        ("record#1", &["record attach addrs=? FAILS"]),
        // The second address fails: the first is released.
        (
            "claim",
            &[
                "record attach addrs=?",
                "allocate",
                "claim 10.32.9.9/12 FAILS",
                "unplumb  delete_if=false",
                "release 10.32.0.1/12",
                "clear",
            ],
        ),
        (
            "record#2",
            &[
                "record attach addrs=?",
                "allocate",
                "claim 10.32.9.9/12",
                "record attach addrs=10.32.0.1/12,10.32.9.9/12 FAILS",
                "unplumb  delete_if=false",
                "release 10.32.0.1/12,10.32.9.9/12",
                "clear",
            ],
        ),
        // The kernel step undoes its own partial work; the addresses are released.
        (
            "plumb",
            &[
                "record attach addrs=?",
                "allocate",
                "claim 10.32.9.9/12",
                "record attach addrs=10.32.0.1/12,10.32.9.9/12",
                "plumb 10.32.0.1/12,10.32.9.9/12 FAILS",
                "unplumb  delete_if=false",
                "release 10.32.0.1/12,10.32.9.9/12",
                "clear",
            ],
        ),
        // Naming fails: names, then the interface it made, then the addresses.
        (
            "name#2",
            &[
                "record attach addrs=?",
                "allocate",
                "claim 10.32.9.9/12",
                "record attach addrs=10.32.0.1/12,10.32.9.9/12",
                "plumb 10.32.0.1/12,10.32.9.9/12",
                "name web.weave.local. 10.32.0.1/12",
                "name web.weave.local. 10.32.9.9/12 FAILS",
                "unname 10.32.0.1/12",
                "unname 10.32.9.9/12",
                "unplumb 10.32.0.1/12,10.32.9.9/12 delete_if=true",
                "release 10.32.0.1/12,10.32.9.9/12",
                "clear",
            ],
        ),
    ];
    for (fault, want) in cases {
        let (s, w) = service(&[fault]);
        let e = s.attach(spec(&["net:default", "10.32.9.9/12"])).await.unwrap_err();
        assert_eq!(log(&w), *want, "failing {fault}: {e}");
        assert!(owned(&w).is_empty(), "failing {fault}: no address kept");
        assert!(w.lock().unwrap().iface.is_none(), "failing {fault}: no interface left");
        assert!(w.lock().unwrap().intents.is_empty(), "failing {fault}");
    }
}

/// A target that had an interface and an address keeps both when a second attach fails.
#[tokio::test]
async fn undoing_keeps_what_the_target_had_before() {
    let (s, w) = service(&[]);
    s.attach(spec(&["10.32.5.5/12"])).await.unwrap();
    w.lock().unwrap().faults.insert("name".into());
    log(&w);
    s.attach(spec(&["10.32.5.5/12", "10.32.6.6/12"])).await.unwrap_err();
    let l = log(&w);
    assert!(l.contains(&"unplumb 10.32.6.6/12 delete_if=false".to_string()), "{l:?}");
    assert!(l.contains(&"release 10.32.6.6/12".to_string()), "{l:?}");
    assert_eq!(owned(&w), [net("10.32.5.5/12")]);
    assert_eq!(w.lock().unwrap().iface.as_ref().unwrap().addrs, [net("10.32.5.5/12")]);
}

/// An undo that fails keeps the intent, and the next start's replay finishes the undo.
#[tokio::test]
async fn a_failed_undo_is_finished_by_replay() {
    let (s, w) = service(&["name", "release#1"]);
    s.attach(spec(&["net:default"])).await.unwrap_err();
    assert_eq!(owned(&w), [net("10.32.0.1/12")], "the release failed");
    assert_eq!(w.lock().unwrap().intents.len(), 1, "so the intent stays");
    log(&w);
    let r = s.replay().await.unwrap();
    assert_eq!(r.undone, [me()]);
    // The interface is gone already; undoing again is harmless.
    assert_eq!(
        log(&w),
        ["unname 10.32.0.1/12", "unplumb 10.32.0.1/12 delete_if=true", "release 10.32.0.1/12", "clear"]
    );
    assert!(owned(&w).is_empty());
}

fn cut_attach(addrs: Option<&[&str]>) -> Intent {
    let ns = Netns::pid(std::process::id()).unwrap();
    Intent {
        id: me(),
        op: Op::Attach(AttachIntent {
            ns: Namespace { at: NsRef::Pid(std::process::id()), inode: ns.inode() },
            ifname: "ethwe".into(),
            prior_ipam: vec![],
            prior_if: None,
            explicit: vec![],
            fqdn: Some("web.weave.local.".into()),
            addrs: addrs.map(|a| a.iter().map(|s| net(s)).collect()),
        }),
    }
}

/// Replay after a kill -9: an attach whose addresses all reached the interface is finished,
/// one cut before is undone, and one whose namespace is another now counts as gone.
#[tokio::test]
async fn replay_finishes_what_was_plumbed_and_undoes_the_rest() {
    // Cut after plumbing, before naming.
    let (s, w) = service(&[]);
    {
        let mut g = w.lock().unwrap();
        g.owned.insert(me(), vec![net("10.32.0.1/12")]);
        g.iface = Some(Iface { ours: true, addrs: vec![net("10.32.0.1/12")] });
        g.intents.insert(me(), cut_attach(Some(&["10.32.0.1/12"])));
    }
    let r = s.replay().await.unwrap();
    assert_eq!(r.finished, [me()]);
    assert_eq!(log(&w), ["name web.weave.local. 10.32.0.1/12", "clear"]);

    // Cut while plumbing: the interface exists without its address.
    let (s, w) = service(&[]);
    {
        let mut g = w.lock().unwrap();
        g.owned.insert(me(), vec![net("10.32.0.1/12")]);
        g.iface = Some(Iface { ours: true, addrs: vec![] });
        g.intents.insert(me(), cut_attach(Some(&["10.32.0.1/12"])));
    }
    assert_eq!(s.replay().await.unwrap().undone, [me()]);
    assert_eq!(
        log(&w),
        ["unname 10.32.0.1/12", "unplumb 10.32.0.1/12 delete_if=true", "release 10.32.0.1/12", "clear"]
    );
    assert!(owned(&w).is_empty() && w.lock().unwrap().iface.is_none());

    // Cut during allocation (IPAM answered, the addresses were not recorded yet).
    let (s, w) = service(&[]);
    {
        let mut g = w.lock().unwrap();
        g.owned.insert(me(), vec![net("10.32.0.1/12")]);
        g.intents.insert(me(), cut_attach(None));
    }
    assert_eq!(s.replay().await.unwrap().undone, [me()]);
    assert_eq!(log(&w), ["unplumb  delete_if=true", "release 10.32.0.1/12", "clear"]);

    // The namespace at that place is another one: the target is gone, its addresses go.
    let (s, w) = service(&[]);
    {
        let mut g = w.lock().unwrap();
        g.owned.insert(me(), vec![net("10.32.0.1/12")]);
        g.iface = Some(Iface { ours: true, addrs: vec![net("10.32.0.1/12")] });
        let mut i = cut_attach(Some(&["10.32.0.1/12"]));
        if let Op::Attach(a) = &mut i.op {
            a.ns.inode += 1;
        }
        g.intents.insert(me(), i);
    }
    assert_eq!(s.replay().await.unwrap().undone, [me()]);
    assert!(owned(&w).is_empty());
}

#[tokio::test]
async fn a_detach_records_removes_releases_unnames_then_clears() {
    let (s, w) = service(&[]);
    s.attach(spec(&["10.32.5.5/12", "10.32.6.6/12"])).await.unwrap();
    log(&w);
    let d = s.detach(me(), vec!["10.32.6.6/12".into()]).await.unwrap();
    assert_eq!(d.removed, [net("10.32.6.6/12")]);
    assert_eq!(
        log(&w),
        [
            "record detach",
            "remove_addrs 10.32.6.6/12",
            "release 10.32.6.6/12",
            "unname 10.32.6.6/12",
            "clear"
        ]
    );
    // A detach cut after the kernel step is finished by replay.
    w.lock().unwrap().faults.insert("release_all".into());
    s.detach(me(), vec![]).await.unwrap_err();
    assert_eq!(w.lock().unwrap().intents.len(), 1, "a detach that failed is finished later");
    w.lock().unwrap().faults.clear();
    log(&w);
    assert_eq!(s.replay().await.unwrap().finished, [me()]);
    assert_eq!(log(&w), ["remove_addrs all", "release_all", "unname 10.32.5.5/12", "clear"]);
    assert!(owned(&w).is_empty() && w.lock().unwrap().iface.is_none());
}

#[tokio::test]
async fn a_failed_expose_gives_back_its_bridge_address_and_allocation() {
    let (s, w) = service(&["name"]);
    s.expose(vec![], Some("gw.weave.local.".into()), true).await.unwrap_err();
    assert_eq!(
        log(&w),
        [
            "record expose addrs=?",
            "allocate",
            "record expose addrs=10.32.0.1/12",
            "expose 10.32.0.1/12",
            "name gw.weave.local. 10.32.0.1/12 FAILS",
            "unname 10.32.0.1/12",
            "hide 10.32.0.1/12",
            "release 10.32.0.1/12",
            "clear",
        ]
    );
    assert!(w.lock().unwrap().owned.get("weave:expose").is_none_or(|v| v.is_empty()));
}

/// Operations on one target wait for each other: a detach issued while an attach runs sees
/// the attach's result, never half of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_on_one_target_run_one_at_a_time() {
    let (s, w) = service(&[]);
    let jobs: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    s.attach(spec(&["net:default"])).await.map(drop)
                } else {
                    s.detach(me(), vec![]).await.map(drop)
                }
            })
        })
        .collect();
    for j in jobs {
        let _ = j.await.unwrap();
    }
    // Each operation's calls form one contiguous run between its record and its clear.
    let mut open = false;
    for line in log(&w) {
        if line.starts_with("record attach addrs=?") || line == "record detach" {
            assert!(!open, "an operation started inside another");
            open = true;
        }
        if line == "clear" {
            open = false;
        }
    }
    assert!(s.locks.lock().unwrap().is_empty(), "no lock is kept once nobody waits");
}

/// A detach that failed part-way leaves its intent; the next operation on the target finishes
/// it before recording its own, so nothing owed is forgotten.
#[tokio::test]
async fn the_next_operation_completes_a_failed_one_first() {
    let (s, w) = service(&[]);
    s.attach(spec(&["10.32.5.5/12"])).await.unwrap();
    w.lock().unwrap().faults.insert("release_all".into());
    s.detach(me(), vec![]).await.unwrap_err();
    w.lock().unwrap().faults.clear();
    log(&w);
    s.attach(spec(&["10.32.6.6/12"])).await.unwrap();
    let l = log(&w);
    assert_eq!(
        l[..4],
        ["remove_addrs all", "release_all", "unname 10.32.5.5/12", "clear"],
        "the detach is finished first: {l:?}"
    );
    assert_eq!(l[4], "record attach addrs=?");
    assert_eq!(owned(&w), [net("10.32.6.6/12")]);
    assert_eq!(w.lock().unwrap().iface.as_ref().unwrap().addrs, [net("10.32.6.6/12")]);
}

/// The plug-in point of the Docker integration: a container named as the user knows it is
/// attached under the id the resolver gives, with its hostname as DNS name.
#[tokio::test]
async fn containers_are_attached_through_the_resolver() {
    use super::target::{BoxFuture, Container, ContainerResolver};
    struct Docker;
    impl ContainerResolver for Docker {
        fn resolve<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Container, AttachError>> {
            Box::pin(async move {
                match name {
                    "web" | "0123456789ab" => Ok(Container {
                        id: "0123456789abcdef".into(),
                        pid: std::process::id(),
                        hostname: Some("www".into()),
                        labels: Default::default(),
                    }),
                    _ => Err(AttachError::UnknownTarget {
                        target: name.into(),
                        why: "no such container".into(),
                    }),
                }
            })
        }
    }
    let (s, w) = service(&[]);
    let e = s.attach(AttachSpec::new("web", vec![])).await.unwrap_err();
    assert!(matches!(e, AttachError::UnknownTarget { .. }), "without a resolver: {e}");
    s.set_container_resolver(Arc::new(Docker));
    let a = s.attach(AttachSpec::new("web", vec![])).await.unwrap();
    assert_eq!(a.id, "0123456789abcdef");
    assert!(log(&w).contains(&"name www.weave.local. 10.32.0.1/12".to_string()));
    assert!(w.lock().unwrap().owned.contains_key("0123456789abcdef"), "IPAM knows it by its id");
    let e = s.attach(AttachSpec::new("db", vec![])).await.unwrap_err();
    assert!(matches!(e, AttachError::UnknownTarget { .. }), "{e}");
    // A container that is gone is detached by the id given: its addresses still go.
    let d = s.detach("0123456789abcdef".into(), vec![]).await.unwrap();
    assert_eq!(d.removed, [net("10.32.0.1/12")]);
}

/// The Docker plugin's endpoints go through the journal: recorded, made, cleared; a create
/// whose kernel step fails leaves nothing; a second create of the same endpoint (Docker
/// repeating a call the daemon did not answer) reuses the pair; a delete of nothing is no error.
#[tokio::test]
async fn endpoints_are_journaled_and_idempotent() {
    let (s, w) = service(&[]);
    s.create_endpoint("0123456789abcdef".into()).await.unwrap();
    assert_eq!(
        log(&w),
        ["record create_endpoint vethwl012345678", "create_endpoint vethwl012345678", "clear"]
    );
    assert!(w.lock().unwrap().intents.is_empty());
    s.create_endpoint("0123456789abcdef".into()).await.unwrap();
    assert_eq!(w.lock().unwrap().endpoints.len(), 1);
    log(&w);
    assert!(s.delete_endpoint("0123456789abcdef".into()).await.unwrap());
    assert!(!s.delete_endpoint("0123456789abcdef".into()).await.unwrap(), "nothing left to delete");
    assert!(w.lock().unwrap().intents.is_empty());

    let (s, w) = service(&["create_endpoint"]);
    s.create_endpoint("fedcba9876543210".into()).await.unwrap_err();
    assert!(w.lock().unwrap().endpoints.is_empty());
    assert!(w.lock().unwrap().intents.is_empty(), "the failure was undone and cleared");
    let e = s.create_endpoint("../etc".into()).await.unwrap_err();
    assert!(matches!(e, AttachError::BadTarget { .. }), "{e}");
}

/// A kill -9 mid-call: a create whose pair is half-made is undone at the next start, one whose
/// pair is whole is kept (Docker may hold the answer); a cut delete is finished.
#[tokio::test]
async fn cut_endpoint_calls_are_undone_or_finished_at_start() {
    let (s, w) = service(&[]);
    {
        let mut g = w.lock().unwrap();
        for (ep, op) in [
            (
                "aaaaaaaaa",
                Op::CreateEndpoint { host: "vethwlaaaaaaaaa".into(), peer: "vethwgaaaaaaaaa".into() },
            ),
            (
                "bbbbbbbbb",
                Op::CreateEndpoint { host: "vethwlbbbbbbbbb".into(), peer: "vethwgbbbbbbbbb".into() },
            ),
            ("ccccccccc", Op::DeleteEndpoint { host: "vethwlccccccccc".into() }),
        ] {
            let id = format!("{}{ep}", super::ENDPOINT_ID);
            g.intents.insert(id.clone(), Intent { id, op });
        }
        g.endpoints.insert("vethwlaaaaaaaaa".into(), false);
        g.endpoints.insert("vethwlbbbbbbbbb".into(), true);
        g.endpoints.insert("vethwlccccccccc".into(), true);
    }
    let r = s.replay().await.unwrap();
    assert_eq!(r.undone, ["docker-endpoint:aaaaaaaaa"]);
    assert_eq!(r.finished, ["docker-endpoint:bbbbbbbbb", "docker-endpoint:ccccccccc"]);
    let g = w.lock().unwrap();
    assert_eq!(g.endpoints.keys().collect::<Vec<_>>(), ["vethwlbbbbbbbbb"]);
    assert!(g.intents.is_empty());
}

/// CNI's attach: the namespace given by path, the container id as the target's id.
fn cni_spec() -> AttachSpec {
    let mut s = AttachSpec::new("ctr-1", vec![]);
    s.at = Some(NsRef::Pid(std::process::id()));
    s.ifname = "eth0".into();
    s.fresh = true;
    s.multicast_route = false;
    s.link.routes = vec![(net("0.0.0.0/0"), Some("10.32.0.1".parse().unwrap()))];
    s
}

#[tokio::test]
async fn a_cni_attach_takes_the_namespace_it_is_given_and_plumbs_the_routes() {
    let (s, w) = service(&[]);
    let a = s.attach(cni_spec()).await.unwrap();
    assert_eq!(a.id, "ctr-1", "the container id is the target's id, no lookup needed");
    assert!(log(&w).contains(&"plumb 10.32.0.1/12 0.0.0.0/0>10.32.0.1".to_string()));
    assert_eq!(w.lock().unwrap().owned.get("ctr-1").cloned().unwrap_or_default(), [net("10.32.0.1/12")]);
}

#[tokio::test]
async fn a_fresh_attach_refuses_an_existing_interface_and_changes_nothing() {
    let (s, w) = service(&[]);
    w.lock().unwrap().iface = Some(Iface { ours: true, addrs: vec![net("10.32.0.7/12")] });
    let e = s.attach(cni_spec()).await.unwrap_err();
    assert!(matches!(e, AttachError::AlreadyAttached { .. }), "{e}");
    assert!(
        log(&w).iter().all(|l| !l.starts_with("allocate") && !l.starts_with("plumb")),
        "nothing was done"
    );
}

#[tokio::test]
async fn detach_at_releases_everything_and_a_second_one_is_fine() {
    let (s, w) = service(&[]);
    s.attach(cni_spec()).await.unwrap();
    log(&w);
    let d = s.detach_at("ctr-1".into(), Some(NsRef::Pid(std::process::id())), "eth0".into()).await.unwrap();
    assert_eq!(d.removed, [net("10.32.0.1/12")]);
    let steps = log(&w);
    assert!(
        steps.contains(&"remove_addrs all".to_string()) && steps.contains(&"release_all".to_string()),
        "{steps:?}"
    );
    // Nothing left, and the namespace gone: still no error (CNI's DEL is tolerant).
    let again = s.detach_at("ctr-1".into(), None, "eth0".into()).await.unwrap();
    assert!(again.removed.is_empty());
    assert!(w.lock().unwrap().intents.is_empty());
}
