//! A layered (Sugiyama-style) layout for small directed graphs, top to bottom.
//!
//! The steps are the classic ones, kept simple because workflows are small:
//!
//! 1. a depth-first search from node 0 (the diagram's Start) marks back edges, the
//!    loops; every other edge points down;
//! 2. each node's layer is its longest path from a root over the forward edges;
//! 3. every layer becomes an even *rank*, and the odd rank between two layers holds
//!    the edge labels. An edge crossing ranks gets one dummy item per rank in
//!    between, so long edges and labels have slots of their own and never run
//!    through a box;
//! 4. a few barycenter sweeps order each rank to reduce crossings (the best order
//!    seen is kept);
//! 5. x positions: alternating sweeps pull each item towards its neighbours,
//!    solved exactly per rank as an isotonic regression (pool adjacent violators)
//!    under the minimum separations;
//! 6. routes: forward edges leave a box at its bottom and enter the next at its top;
//!    a back edge leaves its source at the right side, climbs in a *lane* reserved
//!    beside the source, through its dummies, and enters its target from the right
//!    side, so loops are visibly drawn around the side.
//!
//! Inside a rank, an edge only ever runs vertically through its own slot; between
//! ranks it bends in the gap, where there are no boxes and no labels.

/// Width and height of a node or label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Size {
    pub width: f64,
    pub height: f64,
}

/// A directed edge between node indexes, with the size of its label if it has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GraphEdge {
    pub from: usize,
    pub to: usize,
    pub label: Option<Size>,
}

/// What to lay out. Node 0 is the root the search starts from.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Graph {
    pub nodes: Vec<Size>,
    pub edges: Vec<GraphEdge>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub y: f64,
}

/// An axis-aligned rectangle: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.x + self.width
    }
    pub fn bottom(&self) -> f64 {
        self.y + self.height
    }
    pub fn center_x(&self) -> f64 {
        self.x + self.width / 2.0
    }
    pub fn center_y(&self) -> f64 {
        self.y + self.height / 2.0
    }
    /// True when the interiors intersect (touching edges do not count).
    #[cfg(test)]
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.right() && other.x < self.right() && self.y < other.bottom() && other.y < self.bottom()
    }
    /// True when `point` lies inside the rectangle shrunk by `inset` on every side.
    #[cfg(test)]
    pub fn contains(&self, point: Point, inset: f64) -> bool {
        point.x > self.x + inset
            && point.x < self.right() - inset
            && point.y > self.y + inset
            && point.y < self.bottom() - inset
    }
}

/// One piece of a route, continuing from where the previous one ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Segment {
    Line(Point),
    /// Control point, end.
    Quad(Point, Point),
    /// Two control points, end.
    Cubic(Point, Point, Point),
}

/// How an edge is drawn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Route {
    pub start: Point,
    pub segments: Vec<Segment>,
    /// A loop: drawn around the side, against the flow.
    pub back: bool,
    pub label: Option<Rect>,
}

impl Route {
    /// SVG path data (`M … L … C …`).
    pub fn path_data(&self) -> String {
        let mut data = format!("M{} {}", number(self.start.x), number(self.start.y));
        for segment in &self.segments {
            match segment {
                Segment::Line(end) => data.push_str(&format!(" L{} {}", number(end.x), number(end.y))),
                Segment::Quad(control, end) => data.push_str(&format!(
                    " Q{} {} {} {}",
                    number(control.x),
                    number(control.y),
                    number(end.x),
                    number(end.y)
                )),
                Segment::Cubic(first, second, end) => data.push_str(&format!(
                    " C{} {} {} {} {} {}",
                    number(first.x),
                    number(first.y),
                    number(second.x),
                    number(second.y),
                    number(end.x),
                    number(end.y)
                )),
            }
        }
        data
    }

    /// Points along the route, `steps` per segment (for the tests' hit checks).
    #[cfg(test)]
    pub fn sample(&self, steps: usize) -> Vec<Point> {
        let steps = steps.max(1);
        let mut points = vec![self.start];
        let mut from = self.start;
        for segment in &self.segments {
            for step in 1..=steps {
                let t = step as f64 / steps as f64;
                let u = 1.0 - t;
                let point = match *segment {
                    Segment::Line(end) => Point { x: u * from.x + t * end.x, y: u * from.y + t * end.y },
                    Segment::Quad(control, end) => Point {
                        x: u * u * from.x + 2.0 * u * t * control.x + t * t * end.x,
                        y: u * u * from.y + 2.0 * u * t * control.y + t * t * end.y,
                    },
                    Segment::Cubic(first, second, end) => Point {
                        x: u * u * u * from.x
                            + 3.0 * u * u * t * first.x
                            + 3.0 * u * t * t * second.x
                            + t * t * t * end.x,
                        y: u * u * u * from.y
                            + 3.0 * u * u * t * first.y
                            + 3.0 * u * t * t * second.y
                            + t * t * t * end.y,
                    },
                };
                points.push(point);
            }
            from = match *segment {
                Segment::Line(end) | Segment::Quad(_, end) | Segment::Cubic(_, _, end) => end,
            };
        }
        points
    }
}

/// Where everything goes: one rectangle per node, one route per edge (same order
/// as the graph's), and the size of the drawing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub nodes: Vec<Rect>,
    pub routes: Vec<Route>,
    pub width: f64,
    pub height: f64,
}

/// A number for SVG: one decimal at most, no `-0`.
pub(crate) fn number(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded == 0.0 {
        return "0".to_owned();
    }
    if rounded.fract() == 0.0 { format!("{rounded:.0}") } else { format!("{rounded:.1}") }
}

const MARGIN: f64 = 16.0;
/// Horizontal space between two boxes of a rank.
const NODE_GAP: f64 = 32.0;
/// Between a box and an edge passing beside it.
const NODE_DUMMY_GAP: f64 = 18.0;
/// Between two edges passing side by side.
const DUMMY_GAP: f64 = 12.0;
/// Vertical gap between two ranks, at least and at most (steeper bends get more).
const ROW_GAP_MIN: f64 = 24.0;
const ROW_GAP_MAX: f64 = 64.0;
/// Height of a label rank without labels: keeps boxes of two layers ≥ 40 px apart.
const LABEL_ROW_MIN: f64 = 6.0;
/// The first loop lane's distance from a box's right side, and the step between lanes.
const LANE_FIRST: f64 = 18.0;
const LANE_STEP: f64 = 12.0;
/// Radius of a loop's corners.
const CORNER: f64 = 6.0;
/// Maximum spacing between the ports of edges sharing a side.
const PORT_STEP: f64 = 20.0;
/// Crossing reduction: restarts, and barycenter sweeps per restart.
const RESTARTS: usize = 12;
const SWEEPS: usize = 12;

#[derive(Debug, Clone, Copy)]
enum ItemKind {
    Node(usize),
    Dummy,
}

/// One slot in a rank: a node, or an edge passing through (with its label, maybe).
#[derive(Debug, Clone)]
struct Item {
    kind: ItemKind,
    rank: usize,
    /// Extent from `x` to the left and to the right.
    left: f64,
    right: f64,
    x: f64,
}

/// Two items of adjacent ranks joined by a piece of an edge; offsets say where on
/// each item the edge attaches (a loop's lane lies right of its box's centre).
#[derive(Debug, Clone, Copy)]
struct Link {
    upper: usize,
    lower: usize,
    upper_offset: f64,
    lower_offset: f64,
    weight: f64,
}

/// A loop's attachment to a box: lane x and port y, relative to the box's centre.
#[derive(Debug, Clone, Copy, Default)]
struct Lane {
    x: f64,
    y: f64,
}

#[derive(Debug, Clone, Default)]
struct EdgePlan {
    valid: bool,
    back: bool,
    self_loop: bool,
    /// Items from source to target (for a loop: from the lower box up to the upper one).
    chain: Vec<usize>,
    label_item: Option<usize>,
    source_lane: Lane,
    target_lane: Lane,
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    Upper,
    Lower,
    Both,
}

/// Lays the graph out. Never panics: edges naming missing nodes get an empty route.
pub(crate) fn compute(graph: &Graph) -> Layout {
    let node_count = graph.nodes.len();
    let valid: Vec<bool> = graph.edges.iter().map(|edge| edge.from < node_count && edge.to < node_count).collect();
    let (back, preorder) = classify(graph, &valid);
    let layer = layers(graph, &valid, &back);
    let rank_count = layer.iter().max().map_or(1, |&max| 2 * max + 1);

    let mut items: Vec<Item> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(node, size)| Item {
            kind: ItemKind::Node(node),
            rank: 2 * layer[node],
            left: size.width / 2.0,
            right: size.width / 2.0,
            x: 0.0,
        })
        .collect();

    let mut plans: Vec<EdgePlan> = vec![EdgePlan::default(); graph.edges.len()];
    let self_labels = assign_lanes(graph, &valid, &back, &mut plans, &mut items);

    // Chains of dummies, and the links between adjacent ranks.
    let mut links: Vec<Link> = Vec::new();
    let mut dummy_source: Vec<usize> = Vec::new();
    for (index, edge) in graph.edges.iter().enumerate() {
        if !valid[index] {
            continue;
        }
        let plan = &mut plans[index];
        plan.valid = true;
        plan.back = back[index];
        plan.self_loop = edge.from == edge.to;
        if plan.self_loop {
            plan.chain = vec![edge.from];
            continue;
        }
        let from_rank = items[edge.from].rank;
        let to_rank = items[edge.to].rank;
        let ranks: Vec<usize> = if from_rank < to_rank {
            (from_rank + 1..to_rank).collect()
        } else {
            (to_rank + 1..from_rank).rev().collect()
        };
        let mut chain = vec![edge.from];
        for (position, rank) in ranks.into_iter().enumerate() {
            let half = if position == 0 { edge.label.map_or(0.0, |label| label.width / 2.0) } else { 0.0 };
            if position == 0 && edge.label.is_some() {
                plan.label_item = Some(items.len());
            }
            chain.push(items.len());
            dummy_source.push(edge.from);
            items.push(Item { kind: ItemKind::Dummy, rank, left: half, right: half, x: 0.0 });
        }
        chain.push(edge.to);
        for pair in chain.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let offset = |item: usize| {
                if !plan.back {
                    0.0
                } else if item == edge.from && matches!(items[item].kind, ItemKind::Node(_)) {
                    plan.source_lane.x
                } else if item == edge.to && matches!(items[item].kind, ItemKind::Node(_)) {
                    plan.target_lane.x
                } else {
                    0.0
                }
            };
            let dummies = [a, b].iter().filter(|&&item| matches!(items[item].kind, ItemKind::Dummy)).count();
            let weight = [1.0, 2.0, 8.0][dummies];
            let (upper, lower) = if items[a].rank < items[b].rank { (a, b) } else { (b, a) };
            links.push(Link { upper, lower, upper_offset: offset(upper), lower_offset: offset(lower), weight });
        }
        plan.chain = chain;
    }

    let mut upper_links: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut lower_links: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for (index, link) in links.iter().enumerate() {
        upper_links[link.lower].push(index);
        lower_links[link.upper].push(index);
    }

    let orders = order(&items, &links, &upper_links, &lower_links, &preorder, &dummy_source, rank_count);
    position(&mut items, &links, &upper_links, &lower_links, &orders);
    // Straightening one edge can make room for another: a few passes.
    for _ in 0..3 {
        straighten(&mut items, graph, &plans, &orders);
    }

    // Shift everything right of the margin.
    let leftmost = items.iter().map(|item| item.x - item.left).fold(f64::INFINITY, f64::min);
    let shift = if leftmost.is_finite() { MARGIN - leftmost } else { MARGIN };
    for item in &mut items {
        item.x += shift;
    }
    let width = items.iter().map(|item| item.x + item.right).fold(0.0, f64::max) + MARGIN;

    // Rows: heights, gaps (steeper bends get more room), tops.
    let mut heights = vec![0.0_f64; rank_count];
    for (rank, height) in heights.iter_mut().enumerate() {
        *height = if rank % 2 == 0 { 20.0 } else { LABEL_ROW_MIN };
    }
    for item in &items {
        if let ItemKind::Node(node) = item.kind {
            heights[item.rank] = heights[item.rank].max(graph.nodes[node].height);
        }
    }
    for (index, plan) in plans.iter().enumerate() {
        if let (Some(item), Some(label)) = (plan.label_item, graph.edges[index].label) {
            heights[items[item].rank] = heights[items[item].rank].max(label.height);
        }
    }
    for placed in &self_labels {
        let rank = items[graph.edges[placed.edge].from].rank;
        let reach = placed.y.abs().max(placed.y + placed.size.height);
        heights[rank] = heights[rank].max(2.0 * reach);
    }
    let mut gaps = vec![ROW_GAP_MIN; rank_count];
    for link in &links {
        let shift = ((items[link.upper].x + link.upper_offset) - (items[link.lower].x + link.lower_offset)).abs();
        let gap = &mut gaps[items[link.upper].rank];
        *gap = gap.max((shift * 0.3).clamp(ROW_GAP_MIN, ROW_GAP_MAX));
    }
    let mut tops = vec![MARGIN; rank_count];
    for rank in 1..rank_count {
        tops[rank] = tops[rank - 1] + heights[rank - 1] + gaps[rank - 1];
    }
    let height = tops[rank_count - 1] + heights[rank_count - 1] + MARGIN;
    let row_bottom = |rank: usize| tops[rank] + heights[rank];

    let nodes: Vec<Rect> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(node, size)| {
            let item = &items[node];
            Rect {
                x: item.x - size.width / 2.0,
                y: tops[item.rank] + (heights[item.rank] - size.height) / 2.0,
                width: size.width,
                height: size.height,
            }
        })
        .collect();

    // Ports of forward edges: spread along the bottom of the source and the top of
    // the target, in the order of where each edge goes next (no crossing at the box).
    let mut bottom_ports: Vec<f64> = vec![0.0; graph.edges.len()];
    let mut top_ports: Vec<f64> = vec![0.0; graph.edges.len()];
    for (node, rect) in nodes.iter().enumerate() {
        let mut leaving: Vec<(f64, usize)> = Vec::new();
        let mut entering: Vec<(f64, usize)> = Vec::new();
        for (index, plan) in plans.iter().enumerate() {
            if !plan.valid || plan.back || plan.chain.len() < 2 {
                continue;
            }
            if graph.edges[index].from == node {
                leaving.push((items[plan.chain[1]].x, index));
            }
            if graph.edges[index].to == node {
                entering.push((items[plan.chain[plan.chain.len() - 2]].x, index));
            }
        }
        for (list, ports) in [(&mut leaving, &mut bottom_ports), (&mut entering, &mut top_ports)] {
            list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let count = list.len();
            let step = if count > 1 { PORT_STEP.min(((rect.width - 24.0) / (count - 1) as f64).max(1.0)) } else { 0.0 };
            for (position, &(_, edge)) in list.iter().enumerate() {
                ports[edge] = rect.center_x() + (position as f64 - (count - 1) as f64 / 2.0) * step;
            }
        }
    }

    let mut routes = Vec::with_capacity(graph.edges.len());
    for (index, plan) in plans.iter().enumerate() {
        let edge = &graph.edges[index];
        if !plan.valid {
            routes.push(Route { start: Point { x: 0.0, y: 0.0 }, segments: Vec::new(), back: false, label: None });
            continue;
        }
        let source = nodes[edge.from];
        let target = nodes[edge.to];
        let label_rect = |item: usize, size: Size| {
            let rank = items[item].rank;
            Rect {
                x: items[item].x - size.width / 2.0,
                y: tops[rank] + (heights[rank] - size.height) / 2.0,
                width: size.width,
                height: size.height,
            }
        };
        let mut route = Route { start: Point { x: 0.0, y: 0.0 }, segments: Vec::new(), back: plan.back, label: None };
        if plan.self_loop {
            let lane = source.center_x() + plan.source_lane.x;
            let top = source.center_y() + plan.source_lane.y;
            let bottom = source.center_y() + plan.target_lane.y;
            let corner = CORNER.min((bottom - top) / 2.0).max(0.0);
            route.start = Point { x: source.right(), y: top };
            route.segments = vec![
                Segment::Line(Point { x: lane - corner, y: top }),
                Segment::Quad(Point { x: lane, y: top }, Point { x: lane, y: top + corner }),
                Segment::Line(Point { x: lane, y: bottom - corner }),
                Segment::Quad(Point { x: lane, y: bottom }, Point { x: lane - corner, y: bottom }),
                Segment::Line(Point { x: source.right(), y: bottom }),
            ];
            route.label = self_labels.iter().find(|placed| placed.edge == index).map(|placed| Rect {
                x: source.right() + placed.x,
                y: source.center_y() + placed.y,
                width: placed.size.width,
                height: placed.size.height,
            });
        } else if plan.back {
            let from_rank = items[edge.from].rank;
            let to_rank = items[edge.to].rank;
            let lane = source.center_x() + plan.source_lane.x;
            let port = source.center_y() + plan.source_lane.y;
            route.start = Point { x: source.right(), y: port };
            route.segments.push(Segment::Line(Point { x: lane - CORNER, y: port }));
            route.segments.push(Segment::Quad(Point { x: lane, y: port }, Point { x: lane, y: port - CORNER }));
            let mut current = Point { x: lane, y: tops[from_rank] };
            push_line(&mut route.segments, Point { x: lane, y: port - CORNER }, current);
            for &item in &plan.chain[1..plan.chain.len() - 1] {
                let rank = items[item].rank;
                let x = items[item].x;
                push_bend(&mut route.segments, current, Point { x, y: row_bottom(rank) });
                current = Point { x, y: tops[rank] };
                push_line(&mut route.segments, Point { x, y: row_bottom(rank) }, current);
            }
            let lane = target.center_x() + plan.target_lane.x;
            let port = target.center_y() + plan.target_lane.y;
            let entry = Point { x: lane, y: row_bottom(to_rank) };
            push_bend(&mut route.segments, current, entry);
            push_line(&mut route.segments, entry, Point { x: lane, y: port + CORNER });
            route.segments.push(Segment::Quad(Point { x: lane, y: port }, Point { x: lane - CORNER, y: port }));
            route.segments.push(Segment::Line(Point { x: target.right(), y: port }));
            if let (Some(item), Some(size)) = (plan.label_item, edge.label) {
                route.label = Some(label_rect(item, size));
            }
        } else {
            let from_rank = items[edge.from].rank;
            let to_rank = items[edge.to].rank;
            let port = bottom_ports[index];
            route.start = Point { x: port, y: source.bottom() };
            let mut current = Point { x: port, y: row_bottom(from_rank) };
            push_line(&mut route.segments, route.start, current);
            for &item in &plan.chain[1..plan.chain.len() - 1] {
                let rank = items[item].rank;
                let x = items[item].x;
                push_bend(&mut route.segments, current, Point { x, y: tops[rank] });
                current = Point { x, y: row_bottom(rank) };
                push_line(&mut route.segments, Point { x, y: tops[rank] }, current);
            }
            let port = top_ports[index];
            let entry = Point { x: port, y: tops[to_rank] };
            push_bend(&mut route.segments, current, entry);
            push_line(&mut route.segments, entry, Point { x: port, y: target.y });
            if let (Some(item), Some(size)) = (plan.label_item, edge.label) {
                route.label = Some(label_rect(item, size));
            }
        }
        routes.push(route);
    }

    Layout { nodes, routes, width, height }
}

/// A straight piece, left out when it would have no length (an arrowhead needs a direction).
fn push_line(segments: &mut Vec<Segment>, from: Point, to: Point) {
    if (to.x - from.x).abs() > 0.5 || (to.y - from.y).abs() > 0.5 {
        segments.push(Segment::Line(to));
    }
}

/// An S-bend between ranks, vertical at both ends.
fn push_bend(segments: &mut Vec<Segment>, from: Point, to: Point) {
    if (to.x - from.x).abs() < 0.5 {
        push_line(segments, from, to);
        return;
    }
    let half = (to.y - from.y) / 2.0;
    segments.push(Segment::Cubic(Point { x: from.x, y: from.y + half }, Point { x: to.x, y: to.y - half }, to));
}

/// Depth-first search from node 0, then from every node not reached yet: marks the
/// edges that close a cycle, and numbers the nodes in the order first reached.
fn classify(graph: &Graph, valid: &[bool]) -> (Vec<bool>, Vec<usize>) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let count = graph.nodes.len();
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, edge) in graph.edges.iter().enumerate() {
        if valid[index] {
            outgoing[edge.from].push(index);
        }
    }
    let mut state = vec![State::New; count];
    let mut back = vec![false; graph.edges.len()];
    let mut preorder = vec![0; count];
    let mut reached = 0;
    for root in 0..count {
        if state[root] != State::New {
            continue;
        }
        state[root] = State::Open;
        preorder[root] = reached;
        reached += 1;
        let mut stack = vec![(root, 0_usize)];
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            match outgoing[node].get(next) {
                Some(&edge) => {
                    top.1 += 1;
                    let target = graph.edges[edge].to;
                    match state[target] {
                        State::New => {
                            state[target] = State::Open;
                            preorder[target] = reached;
                            reached += 1;
                            stack.push((target, 0));
                        }
                        State::Open => back[edge] = true,
                        State::Done => {}
                    }
                }
                None => {
                    state[node] = State::Done;
                    stack.pop();
                }
            }
        }
    }
    (back, preorder)
}

/// Longest path from a root over the forward edges (which form a DAG).
fn layers(graph: &Graph, valid: &[bool], back: &[bool]) -> Vec<usize> {
    let count = graph.nodes.len();
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut indegree = vec![0_usize; count];
    for (index, edge) in graph.edges.iter().enumerate() {
        if valid[index] && !back[index] {
            outgoing[edge.from].push(edge.to);
            indegree[edge.to] += 1;
        }
    }
    let mut layer = vec![0_usize; count];
    let mut ready: std::collections::VecDeque<usize> = (0..count).filter(|&node| indegree[node] == 0).collect();
    while let Some(node) = ready.pop_front() {
        for &target in &outgoing[node] {
            layer[target] = layer[target].max(layer[node] + 1);
            indegree[target] -= 1;
            if indegree[target] == 0 {
                ready.push_back(target);
            }
        }
    }
    layer
}

/// A self-loop's label, placed right of its box: offsets from the box's right side
/// and vertical centre.
#[derive(Debug, Clone, Copy)]
struct SelfLabel {
    edge: usize,
    x: f64,
    y: f64,
    size: Size,
}

/// Gives every loop its lanes beside its boxes and widens the boxes' slots to hold them.
///
/// Lanes right of a box, nearest first: loops arriving, loops leaving, self-loops.
/// Leaving loops use ports in the upper half of the right side and arriving ones in
/// the lower half; the farther the lane, the nearer its port to the middle, so the
/// horizontal pieces never cross the vertical ones.
fn assign_lanes(
    graph: &Graph,
    valid: &[bool],
    back: &[bool],
    plans: &mut [EdgePlan],
    items: &mut [Item],
) -> Vec<SelfLabel> {
    let mut self_labels = Vec::new();
    for (node, size) in graph.nodes.iter().enumerate() {
        let loops = |test: &dyn Fn(&GraphEdge) -> bool| -> Vec<usize> {
            (0..graph.edges.len()).filter(|&index| valid[index] && back[index] && test(&graph.edges[index])).collect()
        };
        let arriving = loops(&|edge| edge.to == node && edge.from != node);
        let leaving = loops(&|edge| edge.from == node && edge.to != node);
        let selves = loops(&|edge| edge.from == node && edge.to == node);
        let lane_count = arriving.len() + leaving.len() + selves.len();
        if lane_count == 0 {
            continue;
        }
        let lane_x = |lane: usize| size.width / 2.0 + LANE_FIRST + LANE_STEP * lane as f64;
        let half = size.height / 2.0;
        let port_y = |position: usize, count: usize| {
            let step = ((half - 8.0) / count as f64).clamp(0.5, 7.0);
            4.0 + step * (count - 1 - position) as f64
        };
        // Upper ports: leaving loops then self-loops, nearest lane first.
        let upper: Vec<usize> = leaving.iter().chain(&selves).copied().collect();
        let lower: Vec<usize> = arriving.iter().chain(&selves).copied().collect();
        for (lane, &edge) in arriving.iter().chain(&leaving).chain(&selves).enumerate() {
            let x = lane_x(lane);
            if let Some(position) = upper.iter().position(|&other| other == edge) {
                plans[edge].source_lane = Lane { x, y: -port_y(position, upper.len()) };
            }
            if let Some(position) = lower.iter().position(|&other| other == edge) {
                plans[edge].target_lane = Lane { x, y: port_y(position, lower.len()) };
            }
        }
        if arriving.is_empty() && leaving.is_empty() {
            // Only self-loops: make them tall enough to see, the nearest the
            // smallest, so each one's horizontals pass outside the nearer ones.
            for (position, &edge) in selves.iter().enumerate() {
                let reach = (half - 8.0 - 5.0 * (selves.len() - 1 - position) as f64).max(4.0);
                plans[edge].source_lane.y = -reach;
                plans[edge].target_lane.y = reach;
            }
        }
        let mut right = lane_x(lane_count - 1) + 4.0;
        // Self-loop labels, stacked right of the farthest lane.
        let labels: Vec<(usize, Size)> =
            selves.iter().filter_map(|&edge| graph.edges[edge].label.map(|label| (edge, label))).collect();
        if !labels.is_empty() {
            let total: f64 =
                labels.iter().map(|(_, label)| label.height).sum::<f64>() + 2.0 * (labels.len() - 1) as f64;
            let x = right - size.width / 2.0 + 4.0;
            let mut y = -total / 2.0;
            let mut widest: f64 = 0.0;
            for (edge, label) in labels {
                self_labels.push(SelfLabel { edge, x, y, size: label });
                y += label.height + 2.0;
                widest = widest.max(label.width);
            }
            right += 4.0 + widest;
        }
        items[node].right = right;
    }
    self_labels
}

/// Orders each rank: barycenter sweeps down and up, each followed by swapping
/// neighbours while that removes crossings; keeps the order with the fewest
/// crossings. Returns the items of each rank, left to right.
fn order(
    items: &[Item],
    links: &[Link],
    upper_links: &[Vec<usize>],
    lower_links: &[Vec<usize>],
    preorder: &[usize],
    dummy_source: &[usize],
    rank_count: usize,
) -> Vec<Vec<usize>> {
    let node_count = preorder.len();
    let initial_key = |item: usize| match items[item].kind {
        ItemKind::Node(node) => preorder[node] as f64,
        ItemKind::Dummy => preorder[dummy_source[item - node_count]] as f64 + 0.5,
    };
    let mut orders: Vec<Vec<usize>> = vec![Vec::new(); rank_count];
    for (index, item) in items.iter().enumerate() {
        orders[item.rank].push(index);
    }
    for rank in &mut orders {
        rank.sort_by(|&a, &b| initial_key(a).total_cmp(&initial_key(b)).then(a.cmp(&b)));
    }
    // Links between rank r and r + 1, for counting crossings.
    let mut between: Vec<Vec<usize>> = vec![Vec::new(); rank_count];
    for (index, link) in links.iter().enumerate() {
        between[items[link.upper].rank].push(index);
    }
    let mut positions = vec![0_usize; items.len()];
    for rank in &orders {
        for (position, &item) in rank.iter().enumerate() {
            positions[item] = position;
        }
    }
    let total =
        |positions: &[usize]| (0..rank_count).map(|rank| crossings(links, &between[rank], positions)).sum::<usize>();
    let mut best = orders.clone();
    let mut best_crossings = total(&positions);
    // Barycenters get stuck on ties; a few restarts from shuffled orders (a fixed
    // seed: the same definition always gives the same drawing) find better ones.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for restart in 0..RESTARTS {
        if best_crossings == 0 {
            break;
        }
        let mut orders = orders.clone();
        if restart > 0 {
            for rank in &mut orders {
                for index in (1..rank.len()).rev() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    rank.swap(index, (seed % (index as u64 + 1)) as usize);
                }
            }
        }
        for rank in &orders {
            for (position, &item) in rank.iter().enumerate() {
                positions[item] = position;
            }
        }
        for sweep in 0..SWEEPS {
            let downwards = sweep % 2 == 0;
            let ranks: Vec<usize> =
                if downwards { (1..rank_count).collect() } else { (0..rank_count - 1).rev().collect() };
            for rank in ranks {
                let mut keyed: Vec<(usize, f64)> = orders[rank]
                    .iter()
                    .map(|&item| {
                        let neighbours: Vec<f64> = if downwards {
                            upper_links[item].iter().map(|&link| attachment(&links[link], true, &positions)).collect()
                        } else {
                            lower_links[item].iter().map(|&link| attachment(&links[link], false, &positions)).collect()
                        };
                        let key = if neighbours.is_empty() {
                            positions[item] as f64
                        } else {
                            neighbours.iter().sum::<f64>() / neighbours.len() as f64
                        };
                        (item, key)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.1.total_cmp(&b.1).then(positions[a.0].cmp(&positions[b.0])));
                orders[rank] = keyed.into_iter().map(|(item, _)| item).collect();
                for (position, &item) in orders[rank].iter().enumerate() {
                    positions[item] = position;
                }
            }
            transpose(&mut orders, &mut positions, links, &Neighbours { upper: upper_links, lower: lower_links });
            let count = total(&positions);
            if count < best_crossings {
                best_crossings = count;
                best = orders.clone();
            }
            if best_crossings == 0 {
                break;
            }
        }
    }
    best
}

/// Where a link meets the neighbour's rank, as a position: a loop's lane lies
/// right of its box, so it counts as half a place to the right.
fn attachment(link: &Link, at_upper: bool, positions: &[usize]) -> f64 {
    let (item, offset) = if at_upper { (link.upper, link.upper_offset) } else { (link.lower, link.lower_offset) };
    positions[item] as f64 + if offset != 0.0 { 0.5 } else { 0.0 }
}

/// Swaps neighbours in a rank while that lowers the crossings around the rank
/// (breaks the ties barycenters leave, such as several edges from one box).
fn transpose(orders: &mut [Vec<usize>], positions: &mut [usize], links: &[Link], neighbours: &Neighbours) {
    // Crossings among the links of `left` and `right` alone, with `left` on the
    // left; the other crossings do not change when the two swap.
    let crossings_between = |left: usize, right: usize, positions: &[usize]| {
        let mut count = 0;
        for (lists, far_is_upper) in [(neighbours.upper, true), (neighbours.lower, false)] {
            for &a in &lists[left] {
                for &b in &lists[right] {
                    if attachment(&links[a], far_is_upper, positions) > attachment(&links[b], far_is_upper, positions) {
                        count += 1;
                    }
                }
            }
        }
        count
    };
    for _ in 0..8 {
        let mut improved = false;
        for order in orders.iter_mut() {
            for position in 1..order.len() {
                let (left, right) = (order[position - 1], order[position]);
                if crossings_between(right, left, positions) < crossings_between(left, right, positions) {
                    order.swap(position - 1, position);
                    positions[left] = position;
                    positions[right] = position - 1;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
}

/// Each item's links to the rank above and to the rank below.
struct Neighbours<'a> {
    upper: &'a [Vec<usize>],
    lower: &'a [Vec<usize>],
}

/// Pairs of the given links (all between the same two ranks) that cross.
fn crossings(links: &[Link], subset: &[usize], positions: &[usize]) -> usize {
    let ends: Vec<(f64, f64)> = subset
        .iter()
        .map(|&link| (attachment(&links[link], true, positions), attachment(&links[link], false, positions)))
        .collect();
    let mut total = 0;
    for (index, a) in ends.iter().enumerate() {
        for b in &ends[index + 1..] {
            if (a.0 - b.0) * (a.1 - b.1) < 0.0 {
                total += 1;
            }
        }
    }
    total
}

/// The least distance between the centres of two neighbours in a rank.
fn separation(left: &Item, right: &Item) -> f64 {
    let gap = match (left.kind, right.kind) {
        (ItemKind::Node(_), ItemKind::Node(_)) => NODE_GAP,
        (ItemKind::Dummy, ItemKind::Dummy) => DUMMY_GAP,
        _ => NODE_DUMMY_GAP,
    };
    left.right + gap + right.left
}

/// x positions: packed first, then pulled towards neighbours sweep after sweep.
fn position(
    items: &mut [Item],
    links: &[Link],
    upper_links: &[Vec<usize>],
    lower_links: &[Vec<usize>],
    orders: &[Vec<usize>],
) {
    for rank in orders {
        let mut x = 0.0;
        for (position, &item) in rank.iter().enumerate() {
            if position > 0 {
                x += separation(&items[rank[position - 1]], &items[item]);
            }
            items[item].x = x;
        }
        // Centre each rank on 0 so the first pulls start from a balanced picture.
        let middle = x / 2.0;
        for &item in rank {
            items[item].x -= middle;
        }
    }
    let rank_count = orders.len();
    let mut passes: Vec<(usize, Direction)> = Vec::new();
    for _ in 0..10 {
        passes.extend((1..rank_count).map(|rank| (rank, Direction::Upper)));
        passes.extend((0..rank_count.saturating_sub(1)).rev().map(|rank| (rank, Direction::Lower)));
    }
    for _ in 0..4 {
        passes.extend((0..rank_count).map(|rank| (rank, Direction::Both)));
    }
    for (rank, direction) in passes {
        let desired: Vec<(f64, f64)> = orders[rank]
            .iter()
            .map(|&item| {
                let mut total = 0.0;
                let mut weight = 0.0;
                let mut add = |link: &Link, from_upper: bool| {
                    let (neighbour, neighbour_offset, own_offset) = if from_upper {
                        (link.upper, link.upper_offset, link.lower_offset)
                    } else {
                        (link.lower, link.lower_offset, link.upper_offset)
                    };
                    total += link.weight * (items[neighbour].x + neighbour_offset - own_offset);
                    weight += link.weight;
                };
                if matches!(direction, Direction::Upper | Direction::Both) {
                    for &link in &upper_links[item] {
                        add(&links[link], true);
                    }
                }
                if matches!(direction, Direction::Lower | Direction::Both) {
                    for &link in &lower_links[item] {
                        add(&links[link], false);
                    }
                }
                if weight > 0.0 { (total / weight, weight) } else { (items[item].x, 0.01) }
            })
            .collect();
        place_rank(items, &orders[rank], &desired);
    }
}

/// Lines up the dummies of each long edge on one x where the ranks leave room,
/// so a long edge runs straight and bends only near its ends.
fn straighten(items: &mut [Item], graph: &Graph, plans: &[EdgePlan], orders: &[Vec<usize>]) {
    let mut place = vec![0_usize; items.len()];
    for rank in orders {
        for (position, &item) in rank.iter().enumerate() {
            place[item] = position;
        }
    }
    for (index, plan) in plans.iter().enumerate() {
        if !plan.valid || plan.chain.len() < 4 {
            continue;
        }
        let edge = &graph.edges[index];
        let dummies = &plan.chain[1..plan.chain.len() - 1];
        let (source_offset, target_offset) =
            if plan.back { (plan.source_lane.x, plan.target_lane.x) } else { (0.0, 0.0) };
        let source = items[edge.from].x + source_offset;
        let target = items[edge.to].x + target_offset;
        let fits = |x: f64, items: &[Item]| {
            dummies.iter().all(|&dummy| {
                let rank = &orders[items[dummy].rank];
                let position = place[dummy];
                let left_ok = position == 0 || {
                    let left = &items[rank[position - 1]];
                    x >= left.x + separation(left, &items[dummy]) - 1e-6
                };
                let right_ok = position + 1 >= rank.len() || {
                    let right = &items[rank[position + 1]];
                    x + separation(&items[dummy], right) <= right.x + 1e-6
                };
                left_ok && right_ok
            })
        };
        let cost = |x: f64, items: &[Item]| {
            dummies.iter().map(|&dummy| (items[dummy].x - x).abs()).sum::<f64>()
                + (x - source).abs()
                + (x - target).abs()
        };
        let candidates: Vec<f64> = dummies.iter().map(|&dummy| items[dummy].x).chain([source, target]).collect();
        let best = candidates
            .into_iter()
            .filter(|&x| fits(x, items))
            .min_by(|&a, &b| cost(a, items).total_cmp(&cost(b, items)));
        if let Some(x) = best {
            for &dummy in dummies {
                items[dummy].x = x;
            }
        }
    }
}

/// Puts the items of one rank as near their desired x as the separations allow:
/// minimises Σ weight·(x − desired)² keeping order and gaps, exactly, by pooling
/// adjacent violators.
fn place_rank(items: &mut [Item], order: &[usize], desired: &[(f64, f64)]) {
    let mut offsets = vec![0.0; order.len()];
    for position in 1..order.len() {
        offsets[position] = offsets[position - 1] + separation(&items[order[position - 1]], &items[order[position]]);
    }
    // Blocks of (weight, weighted sum, count) with non-decreasing means.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for (position, &(target, weight)) in desired.iter().enumerate() {
        let weight = weight.max(1e-6);
        blocks.push((weight, weight * (target - offsets[position]), 1));
        while blocks.len() >= 2 {
            let last = blocks[blocks.len() - 1];
            let before = blocks[blocks.len() - 2];
            if before.1 / before.0 <= last.1 / last.0 {
                break;
            }
            blocks.pop();
            let merged = blocks.len() - 1;
            blocks[merged] = (before.0 + last.0, before.1 + last.1, before.2 + last.2);
        }
    }
    let mut position = 0;
    for (weight, sum, count) in blocks {
        let base = sum / weight;
        for _ in 0..count {
            items[order[position]].x = base + offsets[position];
            position += 1;
        }
    }
}
