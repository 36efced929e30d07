//! Where the map puts things, in cells of the area it is given: the nodes on an ellipse in the
//! graph's stable order (this peer at the top, the others clockwise by name), so a refresh moves
//! nothing unless peers come or go. What does not fit is grouped by its distance from this peer;
//! the selected node, its route and the nodes with trouble always stay out of groups. A dense
//! mesh draws only the links that say something. The layout counts what it leaves out, so the
//! screen can say so. Pure: cells in, cells out, tested without a terminal.

use crate::topology::{Graph, Link, NodeKind};
use std::collections::BTreeMap;

/// Longest label drawn, in cells (a marker, then the name, cut if longer).
pub const LABEL_MAX: usize = 13;
/// Healthy links among other peers drawn at most, per slot on the ring; beyond, none are (a
/// full mesh of ten is already a hairball): our own links, trouble and the selected node's
/// links are always drawn.
const DENSE_PER_SLOT: usize = 1;

/// A group of nodes left off the ring, by their distance from this peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Direct,
    TwoHops,
    Far,
    Unreachable,
}

impl Group {
    fn of(hops: Option<usize>) -> Group {
        match hops {
            Some(0 | 1) => Group::Direct,
            Some(2) => Group::TwoHops,
            Some(_) => Group::Far,
            None => Group::Unreachable,
        }
    }

    fn label(self, n: usize) -> String {
        match self {
            Group::Direct => format!("+{n} direct"),
            Group::TwoHops => format!("+{n} 2 hops"),
            Group::Far => format!("+{n} 3+ hops"),
            Group::Unreachable => format!("+{n} unreach."),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SlotKind {
    Node(usize),
    Group(Group, Vec<usize>),
}

/// A place on the ring: a node, or a group of nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub kind: SlotKind,
    /// The text after the marker, cut to fit.
    pub label: String,
    /// First cell of the marker and label, and their row.
    pub col: u16,
    pub row: u16,
}

impl Slot {
    /// Cells the marker and label take.
    pub fn width(&self) -> u16 {
        1 + self.label.chars().count() as u16
    }

    /// Where lines to it end: the middle of its label.
    pub fn centre(&self) -> (f64, f64) {
        (f64::from(self.col) + f64::from(self.width() - 1) / 2.0, f64::from(self.row))
    }
}

/// A line between two slots.
#[derive(Clone, Debug, PartialEq)]
pub struct MapLine {
    pub from: usize,
    pub to: usize,
    /// The worst of the edges it stands for.
    pub link: Link,
    pub encrypted: bool,
    /// One of this peer's connections is among them.
    pub ours: bool,
    /// On the route to the selected node.
    pub route: bool,
    /// Edges it stands for: more than one where it ends at a group.
    pub count: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MapLayout {
    pub slots: Vec<Slot>,
    /// Worst drawn last, the route after everything.
    pub lines: Vec<MapLine>,
    /// Nodes in groups.
    pub grouped: usize,
    /// Healthy links among other peers left out of a dense mesh.
    pub undrawn: usize,
}

/// Shortens `s` to `w` characters, marking the cut.
pub fn clip(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `n` places on the ellipse filling `w` x `h` for labels `widths` wide (in cells): the first
/// at the top, the rest clockwise. Returns each label's first cell and row.
fn ring(widths: &[u16], w: u16, h: u16) -> Vec<(u16, u16)> {
    let n = widths.len();
    let widest = widths.iter().copied().max().unwrap_or(1);
    let (cx, cy) = (f64::from(w - 1) / 2.0, f64::from(h - 1) / 2.0);
    let rx = (cx - f64::from(widest) / 2.0).max(0.0);
    let ry = cy;
    widths
        .iter()
        .enumerate()
        .map(|(i, &lw)| {
            let (x, y) = if n == 1 {
                (cx, cy)
            } else {
                let a = std::f64::consts::FRAC_PI_2 - std::f64::consts::TAU * i as f64 / n as f64;
                (cx + rx * a.cos(), cy - ry * a.sin())
            };
            let col = (x - f64::from(lw - 1) / 2.0).round().clamp(0.0, f64::from(w.saturating_sub(lw)));
            (col as u16, y.round() as u16)
        })
        .collect()
}

/// Whether `n` labels `lw` wide fit on the ring with a cell between any two on one row.
fn fits(n: usize, lw: u16, w: u16, h: u16) -> bool {
    if lw > w {
        return false;
    }
    let at = ring(&vec![lw; n], w, h);
    at.iter()
        .enumerate()
        .all(|(i, a)| at[i + 1..].iter().all(|b| a.1 != b.1 || a.0 + lw < b.0 || b.0 + lw < a.0))
}

/// The map of `g` in an area `w` x `h` cells, with node `selected` picked.
pub fn layout(g: &Graph, w: u16, h: u16, selected: Option<usize>) -> MapLayout {
    if g.nodes.is_empty() || w < 4 || h < 1 {
        return MapLayout::default();
    }
    let label_of = |i: usize| clip(g.nodes[i].label(), LABEL_MAX - 1);
    let widest = (0..g.nodes.len()).map(|i| 1 + label_of(i).chars().count() as u16).max().unwrap_or(1);
    let n = g.nodes.len();
    let (kept, groups) = if fits(n, widest, w, h) {
        ((0..n).collect::<Vec<_>>(), BTreeMap::new())
    } else {
        // Group labels are about as wide as a node's.
        let lw = widest.max(12).min(w);
        let cap = (1..n).rev().find(|&k| fits(k, lw, w, h)).unwrap_or(1);
        choose(g, cap, selected)
    };
    let grouped = groups.values().map(Vec::len).sum();
    let mut kinds: Vec<SlotKind> = kept.iter().map(|&i| SlotKind::Node(i)).collect();
    kinds.extend(groups.into_iter().map(|(grp, members)| SlotKind::Group(grp, members)));
    let labels: Vec<String> = kinds
        .iter()
        .map(|k| match k {
            SlotKind::Node(i) => label_of(*i),
            SlotKind::Group(grp, m) => grp.label(m.len()),
        })
        .map(|l| clip(&l, usize::from(w.saturating_sub(1)).max(1)))
        .collect();
    let widths: Vec<u16> = labels.iter().map(|l| 1 + l.chars().count() as u16).collect();
    let at = ring(&widths, w, h);
    let slots: Vec<Slot> = kinds
        .into_iter()
        .zip(labels)
        .zip(at)
        .map(|((kind, label), (col, row))| Slot { kind, label, col, row })
        .collect();

    let mut slot_of = vec![0; n];
    for (s, slot) in slots.iter().enumerate() {
        match &slot.kind {
            SlotKind::Node(i) => slot_of[*i] = s,
            SlotKind::Group(_, members) => members.iter().for_each(|&i| slot_of[i] = s),
        }
    }
    let mut lines: BTreeMap<(usize, usize), MapLine> = BTreeMap::new();
    for e in &g.edges {
        let (sa, sb) = (slot_of[e.a], slot_of[e.b]);
        if sa == sb {
            continue;
        }
        let key = (sa.min(sb), sa.max(sb));
        lines
            .entry(key)
            .and_modify(|l| {
                l.link = l.link.max(e.link);
                l.encrypted &= e.encrypted;
                l.ours |= e.ours;
                l.count += 1;
            })
            .or_insert(MapLine {
                from: key.0,
                to: key.1,
                link: e.link,
                encrypted: e.encrypted,
                ours: e.ours,
                route: false,
                count: 1,
            });
    }
    if let Some(sel) = selected.filter(|s| *s < n) {
        for (x, y) in g.route(sel) {
            let (sa, sb) = (slot_of[x], slot_of[y]);
            if let Some(l) = lines.get_mut(&(sa.min(sb), sa.max(sb))) {
                l.route = true;
            }
        }
    }
    let sel_slot = selected.filter(|s| *s < n).map(|s| slot_of[s]);
    let plain = |l: &MapLine| {
        l.link == Link::Up && !l.ours && !l.route && sel_slot.is_none_or(|s| l.from != s && l.to != s)
    };
    let mut lines: Vec<MapLine> = lines.into_values().collect();
    let mut undrawn = 0;
    if lines.iter().filter(|l| plain(l)).count() > DENSE_PER_SLOT * slots.len() {
        undrawn = lines.iter().filter(|l| plain(l)).map(|l| l.count).sum();
        lines.retain(|l| !plain(l));
    }
    lines.sort_by_key(|l| (l.route, l.link, l.ours, l.from, l.to));
    MapLayout { slots, lines, grouped, undrawn }
}

/// Which `cap` slots' worth of nodes stay on the ring, the rest grouped: this peer, the
/// selected node and its route, nodes with trouble (no route, or our connection to them not
/// up), our neighbours, then the nearest. Kept nodes come back in graph order.
fn choose(g: &Graph, cap: usize, selected: Option<usize>) -> (Vec<usize>, BTreeMap<Group, Vec<usize>>) {
    let n = g.nodes.len();
    let trouble = |i: usize| {
        matches!(g.nodes[i].kind, NodeKind::Absent | NodeKind::Target)
            || g.nodes[i].hops().is_none()
            || g.edge(0, i).is_some_and(|e| !e.link.established())
    };
    let mut order: Vec<usize> = vec![0];
    if let Some(s) = selected.filter(|s| *s < n) {
        order.push(s);
        order.extend(g.route(s).into_iter().map(|(_, to)| to));
    }
    order.extend((0..n).filter(|&i| trouble(i)));
    let mut rest: Vec<usize> = (0..n).collect();
    rest.sort_by_key(|&i| (Group::of(g.nodes[i].hops()), i));
    order.extend(rest);
    let mut seen = vec![false; n];
    order.retain(|&i| !std::mem::replace(&mut seen[i], true));

    // As many nodes as leave room for the groups the rest fall into.
    let mut keep = cap.saturating_sub(4).max(1);
    for _ in 0..4 {
        let classes: std::collections::BTreeSet<Group> =
            order[keep.min(n)..].iter().map(|&i| Group::of(g.nodes[i].hops())).collect();
        let next = cap.saturating_sub(classes.len()).max(1);
        if next == keep {
            break;
        }
        keep = next;
    }
    let keep = keep.min(n);
    let mut kept = order[..keep].to_vec();
    kept.sort_unstable();
    let mut groups: BTreeMap<Group, Vec<usize>> = BTreeMap::new();
    for &i in &order[keep..] {
        groups.entry(Group::of(g.nodes[i].hops())).or_default().push(i);
    }
    groups.values_mut().for_each(|m| m.sort_unstable());
    (kept, groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use std::time::Instant;

    fn graph(peers: usize) -> Graph {
        let s = fixtures::cluster(Instant::now(), peers, 3);
        Graph::build(&s, &BTreeMap::new())
    }

    fn slot_of_node(m: &MapLayout, n: usize) -> Option<usize> {
        m.slots.iter().position(|s| s.kind == SlotKind::Node(n))
    }

    /// No two labels overlap, and every one is inside the area.
    fn assert_readable(m: &MapLayout, w: u16, h: u16) {
        for (i, a) in m.slots.iter().enumerate() {
            assert!(a.col + a.width() <= w && a.row < h, "{a:?} outside {w}x{h}");
            for b in &m.slots[i + 1..] {
                let apart = a.row != b.row || a.col + a.width() < b.col || b.col + b.width() < a.col;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn this_peer_is_at_the_top_and_the_same_graph_lays_out_the_same() {
        let g = graph(10);
        let m = layout(&g, 80, 20, None);
        assert_eq!(m.slots[0].kind, SlotKind::Node(0));
        assert_eq!(m.slots[0].row, 0);
        assert_eq!(m, layout(&graph(10), 80, 20, None), "deterministic");
        assert_eq!((m.slots.len(), m.grouped), (g.nodes.len(), 0));
        assert_readable(&m, 80, 20);
    }

    #[test]
    fn a_refresh_with_other_counters_moves_nothing() {
        let a = Graph::build(&fixtures::cluster(Instant::now(), 10, 3), &BTreeMap::new());
        let b = Graph::build(&fixtures::cluster(Instant::now(), 10, 40), &BTreeMap::new());
        let (ma, mb) = (layout(&a, 90, 22, Some(3)), layout(&b, 90, 22, Some(3)));
        let at = |m: &MapLayout| m.slots.iter().map(|s| (s.col, s.row)).collect::<Vec<_>>();
        assert_eq!(at(&ma), at(&mb));
    }

    #[test]
    fn what_does_not_fit_is_grouped_and_counted_but_trouble_and_the_route_stay() {
        let g = graph(60);
        for (w, h) in [(60, 12), (84, 20), (118, 30)] {
            let sel = g.nodes.iter().position(|n| n.hops() == Some(3)).expect("a peer 3 hops away");
            let m = layout(&g, w, h, Some(sel));
            assert_readable(&m, w, h);
            let shown = m.slots.iter().filter(|s| matches!(s.kind, SlotKind::Node(_))).count();
            assert_eq!(shown + m.grouped, g.nodes.len(), "{w}x{h}: every node shown or grouped");
            assert!(m.grouped > 0, "{w}x{h}: 60 peers do not fit");
            for (x, y) in g.route(sel) {
                assert!(
                    slot_of_node(&m, x).is_some() && slot_of_node(&m, y).is_some(),
                    "{w}x{h}: the route stays"
                );
            }
            let on_route = m.lines.iter().filter(|l| l.route).count();
            assert_eq!(on_route, 3, "{w}x{h}: three hops highlighted");
            for (i, n) in g.nodes.iter().enumerate() {
                let failing = g.edge(0, i).is_some_and(|e| e.link == Link::Failed);
                if failing || n.hops().is_none() && m.slots.len() > 8 {
                    assert!(slot_of_node(&m, i).is_some(), "{w}x{h}: {} has trouble and stays", n.label());
                }
            }
        }
    }

    #[test]
    fn a_dense_mesh_leaves_out_healthy_links_among_others_and_counts_them() {
        let g = graph(60);
        let m = layout(&g, 118, 30, None);
        assert!(m.undrawn > 0);
        assert!(m.lines.iter().all(|l| l.ours || l.link != Link::Up), "only our links and trouble drawn");
        // Our failing link is among them, drawn after the healthy ones.
        let failed = m.lines.iter().position(|l| l.link == Link::Failed).expect("the failed link");
        assert!(m.lines[failed..].iter().all(|l| l.link >= Link::Failed || l.route));
    }

    #[test]
    fn three_peers_show_every_link() {
        let g = graph(3);
        let m = layout(&g, 40, 9, None);
        assert_eq!((m.grouped, m.undrawn), (0, 0));
        assert_eq!(m.lines.len(), g.edges.len());
    }

    #[test]
    fn tiny_areas_still_place_this_peer() {
        let g = graph(60);
        for (w, h) in [(4, 1), (10, 2), (20, 3)] {
            let m = layout(&g, w, h, Some(5));
            assert!(!m.slots.is_empty(), "{w}x{h}");
            assert_eq!(m.slots[0].kind, SlotKind::Node(0));
        }
    }
}
