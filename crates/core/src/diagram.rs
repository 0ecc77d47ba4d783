//! Workflow diagrams: a definition drawn as a self-contained SVG.
//!
//! [`render_svg`] draws a Start node, one box per task (title; key and type; a
//! "join all" tag; the watched fields), one node per end status a transition
//! uses, and one arrow per transition, labelled with its condition in words
//! ([`condition::in_words`], on up to two lines; the exact JSON in the tooltip),
//! `on timeout` and its priority. Loops are drawn around the side of
//! the boxes. The layout is computed here ([`layout`]), so the web pages embed the
//! result inline: no script, no external fonts or images. With
//! [`DiagramOptions::states`] the boxes show an instance's progress; each task's
//! group carries `data-task` and `task-*` classes, and the embedded `<style>`
//! colours those classes, so a page can restyle a task by switching its class.

mod layout;

use crate::condition;
use crate::definition::{Definition, EndStatus, Join, On, Source, Target, Task};
use layout::{Graph, GraphEdge, Layout, Rect, Size, number};
use std::collections::HashMap;

/// How far a task has got in an instance, for the instance view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskState {
    pub status: TaskBadge,
    /// How many times the task has been activated.
    pub runs: u32,
}

/// The colour a task's box takes in the instance view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskBadge {
    #[default]
    Idle,
    Open,
    Done,
    Error,
    Cancelled,
}

impl TaskBadge {
    pub const ALL: [TaskBadge; 5] =
        [TaskBadge::Idle, TaskBadge::Open, TaskBadge::Done, TaskBadge::Error, TaskBadge::Cancelled];

    /// The class on the task's group: `task-open` etc.
    pub fn class(self) -> &'static str {
        match self {
            TaskBadge::Idle => "task-idle",
            TaskBadge::Open => "task-open",
            TaskBadge::Done => "task-done",
            TaskBadge::Error => "task-error",
            TaskBadge::Cancelled => "task-cancelled",
        }
    }

    fn palette(self) -> Palette {
        match self {
            TaskBadge::Idle => NEUTRAL,
            TaskBadge::Open => Palette { fill: "#dbeafe", stroke: "#2563eb", width: "2.5", dash: None, text: TEXT },
            TaskBadge::Done => Palette { fill: "#dcfce7", stroke: "#16a34a", width: "2", dash: None, text: TEXT },
            TaskBadge::Error => Palette { fill: "#fee2e2", stroke: "#dc2626", width: "2.5", dash: None, text: TEXT },
            TaskBadge::Cancelled => {
                Palette { fill: "#f1f5f9", stroke: "#94a3b8", width: "1.5", dash: Some("5 3"), text: "#64748b" }
            }
        }
    }
}

/// What to draw besides the definition.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiagramOptions<'a> {
    /// Per task key: the instance's state of that task. Tasks missing here are idle.
    pub states: Option<&'a HashMap<String, TaskState>>,
    /// When given, each task links to `{link_prefix}{task_key}`.
    pub link_prefix: Option<&'a str>,
}

/// Draws the definition as an SVG document fragment (`<svg>…</svg>`).
pub fn render_svg(definition: &Definition, options: &DiagramOptions) -> String {
    let plan = plan(definition);
    let layout = layout::compute(&plan.graph);
    let id = id_prefix(definition);
    let mut svg = String::with_capacity(16 * 1024);
    let (width, height) = (number(layout.width), number(layout.height));
    svg.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" class=\"workflow-diagram\" role=\"img\" \
         aria-labelledby=\"{id}-title\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         font-family=\"{SANS}\">"
    ));
    svg.push_str(&format!("<title id=\"{id}-title\">{}</title>", escape(&definition.title)));
    if let Some(description) = &definition.description {
        svg.push_str(&format!("<desc>{}</desc>", escape(description)));
    }
    svg.push_str(&style(&id));
    defs(&mut svg, &id, &plan, &layout);
    svg.push_str("<g class=\"edges\">");
    for (edge, route) in plan.edges.iter().zip(&layout.routes) {
        let mut class = String::from("edge");
        if route.back {
            class.push_str(" back");
        }
        if edge.timeout {
            class.push_str(" timeout");
        }
        if edge.implied {
            class.push_str(" depends");
        }
        let (stroke, marker, dash) = if edge.timeout {
            (TIMEOUT_EDGE, "arrow-timeout", " stroke-dasharray=\"6 4\"")
        } else if route.back {
            (BACK_EDGE, "arrow-back", "")
        } else {
            (EDGE, "arrow", "")
        };
        svg.push_str(&format!(
            "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\" data-pointer=\"{}\"><path d=\"{}\" fill=\"none\" \
             stroke=\"{stroke}\" stroke-width=\"1.6\"{dash} marker-end=\"url(#{id}-{marker})\"/></g>",
            escape(&edge.from),
            escape(&edge.to),
            escape(&edge.pointer),
            route.path_data()
        ));
    }
    svg.push_str("</g><g class=\"edge-labels\">");
    for (edge, route) in plan.edges.iter().zip(&layout.routes) {
        if let Some(rect) = route.label {
            label(&mut svg, edge, rect);
        }
    }
    svg.push_str("</g><g class=\"nodes\">");
    for (index, (node, rect)) in plan.nodes.iter().zip(&layout.nodes).enumerate() {
        match node {
            NodeKind::Start => pill(&mut svg, "start", "start", "Start", START, *rect),
            NodeKind::End(status) => {
                let class = format!("end end-{}", status.as_str().to_lowercase().replace('_', "-"));
                pill(&mut svg, &class, status.as_str(), status.as_str(), end_palette(*status), *rect);
            }
            NodeKind::Task(task) => {
                let task = &definition.tasks[*task];
                let state = options.states.map(|states| states.get(&task.key).copied().unwrap_or_default());
                task_box(&mut svg, &id, index, task, state, options.link_prefix, *rect);
            }
        }
    }
    svg.push_str("</g></svg>");
    svg
}

/// The diagram's node rectangles (Start, the tasks in order, the end statuses),
/// edge routes and size, as [`render_svg`] draws them.
#[cfg(test)]
pub(crate) fn layout(definition: &Definition) -> Layout {
    layout::compute(&plan(definition).graph)
}

impl Default for TaskState {
    fn default() -> Self {
        Self { status: TaskBadge::Idle, runs: 0 }
    }
}

// ---- what to draw ----

const TASK_WIDTH: f64 = 180.0;
const TASK_MAX_WIDTH: f64 = 220.0;
const TASK_HEIGHT: f64 = 54.0;
/// A task with `watch` gets a third line.
const WATCH_TASK_HEIGHT: f64 = 68.0;
const PILL_HEIGHT: f64 = 32.0;
/// Inner padding of a task box.
const PADDING: f64 = 10.0;
const JOIN_TAG_WIDTH: f64 = 48.0;
/// Longest line of a condition on an arrow, in characters.
const CONDITION_CHARS: usize = 40;
/// Most lines a condition takes on an arrow; the rest is in the tooltip.
const CONDITION_LINES: usize = 2;
const LABEL_LINE: f64 = 14.0;
const LABEL_PADDING: f64 = 6.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum NodeKind {
    Start,
    Task(usize),
    End(EndStatus),
}

#[derive(Debug, Clone)]
struct PlannedEdge {
    from: String,
    to: String,
    pointer: String,
    /// The whole condition, for the tooltip.
    condition: Option<String>,
    lines: Vec<LabelLine>,
    timeout: bool,
    /// Implied by `depends_on`.
    implied: bool,
}

#[derive(Debug, Clone)]
struct LabelLine {
    text: String,
    size: f64,
    /// Part of the condition (drawn dark), not a note like `on timeout`.
    condition: bool,
}

#[derive(Debug, Clone)]
struct Plan {
    nodes: Vec<NodeKind>,
    edges: Vec<PlannedEdge>,
    graph: Graph,
}

/// Nodes (Start, the tasks, the end statuses used) and edges (every transition,
/// except one implied by `depends_on` that a written transition already draws).
fn plan(definition: &Definition) -> Plan {
    let statuses: Vec<EndStatus> = [EndStatus::Completed, EndStatus::Cancelled, EndStatus::OnHold]
        .into_iter()
        .filter(|status| definition.transitions.iter().any(|t| t.target == Target::Status(*status)))
        .collect();
    let mut nodes = vec![NodeKind::Start];
    nodes.extend((0..definition.tasks.len()).map(NodeKind::Task));
    nodes.extend(statuses.iter().map(|&status| NodeKind::End(status)));
    let sizes = nodes
        .iter()
        .map(|node| match node {
            NodeKind::Start => Size { width: 76.0, height: PILL_HEIGHT },
            NodeKind::Task(task) => {
                let task = &definition.tasks[*task];
                // Wider for a long title, up to a limit; beyond it the title is cut.
                let title = text_width(&task.title, 13.0, Font::Bold);
                let meta = text_width(&meta_line(task), 11.0, Font::Sans)
                    + if task.join == Join::All { JOIN_TAG_WIDTH + 6.0 } else { 0.0 };
                Size {
                    width: (title.max(meta) + 2.0 * PADDING + 2.0).clamp(TASK_WIDTH, TASK_MAX_WIDTH).round(),
                    height: if task.watch.is_empty() { TASK_HEIGHT } else { WATCH_TASK_HEIGHT },
                }
            }
            NodeKind::End(status) => {
                Size { width: (text_width(status.as_str(), 12.0, Font::Bold) + 32.0).max(96.0), height: PILL_HEIGHT }
            }
        })
        .collect();
    let task_node = |task: usize| 1 + task;
    let status_node =
        |status: EndStatus| 1 + definition.tasks.len() + statuses.iter().position(|&s| s == status).unwrap_or(0);

    let is_implied = |pointer: &str| pointer.contains("/depends_on");
    let mut edges = Vec::new();
    let mut graph_edges = Vec::new();
    for transition in &definition.transitions {
        let implied = is_implied(&transition.pointer);
        if implied
            && definition.transitions.iter().any(|other| {
                !is_implied(&other.pointer)
                    && other.from == transition.from
                    && other.target == transition.target
                    && other.on == On::Complete
            })
        {
            continue;
        }
        let from = match transition.from {
            Source::Start => 0,
            Source::Task(task) => task_node(task),
        };
        let to = match transition.target {
            Target::Task(task) => task_node(task),
            Target::Status(status) => status_node(status),
        };
        // The condition as written (for the tooltip) and in words (on the arrow).
        let condition = transition.when.as_ref().map(|_| {
            match definition.source().pointer(&format!("{}/when", transition.pointer)) {
                Some(when) => (when.to_string(), condition::in_words(when)),
                None => ("(condition)".to_owned(), "(condition)".to_owned()),
            }
        });
        let mut lines = Vec::new();
        if let Some((_, words)) = &condition {
            for text in wrap(words, CONDITION_CHARS, CONDITION_LINES) {
                lines.push(LabelLine { text, size: 11.0, condition: true });
            }
        }
        let mut notes = Vec::new();
        if transition.on == On::Timeout {
            notes.push("on timeout".to_owned());
        }
        if transition.priority != 0 {
            notes.push(format!("priority {}", transition.priority));
        }
        if !notes.is_empty() {
            lines.push(LabelLine { text: notes.join(" · "), size: 11.0, condition: false });
        }
        let label = (!lines.is_empty()).then(|| Size {
            width: lines.iter().map(|line| text_width(&line.text, line.size, Font::Sans)).fold(0.0, f64::max)
                + 2.0 * LABEL_PADDING,
            height: lines.len() as f64 * LABEL_LINE + LABEL_PADDING,
        });
        edges.push(PlannedEdge {
            from: definition.source_name(transition.from).to_owned(),
            to: match transition.target {
                Target::Task(task) => definition.tasks[task].key.clone(),
                Target::Status(status) => status.as_str().to_owned(),
            },
            pointer: transition.pointer.clone(),
            condition: condition.map(|(written, _)| written),
            lines,
            timeout: transition.on == On::Timeout,
            implied,
        });
        graph_edges.push(GraphEdge { from, to, label });
    }
    Plan { nodes, edges, graph: Graph { nodes: sizes, edges: graph_edges } }
}

/// Ids inside the SVG start with this: the definition's key and a hash of its
/// document, so two diagrams on one page (two versions, say) do not share ids.
fn id_prefix(definition: &Definition) -> String {
    let key: String = definition
        .key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    // FNV-1a: stable across runs and platforms, unlike the standard hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in definition.source().to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("tfd-{key}-{hash:08x}")
}

// ---- drawing ----

const SANS: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const TEXT: &str = "#0f172a";
const MUTED: &str = "#475569";
const EDGE: &str = "#64748b";
const BACK_EDGE: &str = "#7c3aed";
const TIMEOUT_EDGE: &str = "#d97706";

#[derive(Debug, Clone, Copy)]
struct Palette {
    fill: &'static str,
    stroke: &'static str,
    width: &'static str,
    dash: Option<&'static str>,
    text: &'static str,
}

const NEUTRAL: Palette = Palette { fill: "#ffffff", stroke: "#94a3b8", width: "1.5", dash: None, text: TEXT };
const START: Palette = Palette { fill: "#0f172a", stroke: "#0f172a", width: "1", dash: None, text: "#ffffff" };

fn end_palette(status: EndStatus) -> Palette {
    match status {
        EndStatus::Completed => Palette { fill: "#15803d", stroke: "#166534", width: "1", dash: None, text: "#ffffff" },
        EndStatus::Cancelled => Palette { fill: "#6b7280", stroke: "#4b5563", width: "1", dash: None, text: "#ffffff" },
        EndStatus::OnHold => Palette { fill: "#fbbf24", stroke: "#b45309", width: "1", dash: None, text: "#422006" },
    }
}

/// Class rules for the task states, so a page can restyle a task by switching
/// its `task-*` class. Presentation attributes draw the first state even where
/// a content security policy drops the `<style>` element.
fn style(id: &str) -> String {
    let mut css = String::from("<style>");
    for badge in TaskBadge::ALL {
        let palette = badge.palette();
        css.push_str(&format!(
            "#{id} .{class} .box{{fill:{};stroke:{};stroke-width:{}px;stroke-dasharray:{}}}\
             #{id} .{class} .runs rect{{fill:{}}}#{id} .{class} text.title,#{id} .{class} text.meta{{fill:{}}}",
            palette.fill,
            palette.stroke,
            palette.width,
            palette.dash.unwrap_or("none"),
            palette.stroke,
            if badge == TaskBadge::Cancelled { palette.text } else { TEXT },
            class = badge.class(),
        ));
    }
    css.push_str(&format!(
        "#{id} a:hover .box,#{id} a:focus .box{{stroke-width:3px}}#{id} a{{cursor:pointer}}\
         #{id} .edge-labels g:hover rect{{stroke:#64748b}}</style>"
    ));
    css
}

fn defs(svg: &mut String, id: &str, plan: &Plan, layout: &Layout) {
    svg.push_str("<defs>");
    for (name, colour) in [("arrow", EDGE), ("arrow-back", BACK_EDGE), ("arrow-timeout", TIMEOUT_EDGE)] {
        svg.push_str(&format!(
            "<marker id=\"{id}-{name}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
             markerHeight=\"7\" markerUnits=\"userSpaceOnUse\" orient=\"auto\"><path d=\"M0 0.5 L10 5 L0 9.5 z\" \
             fill=\"{colour}\"/></marker>"
        ));
    }
    for (index, (node, rect)) in plan.nodes.iter().zip(&layout.nodes).enumerate() {
        if matches!(node, NodeKind::Task(_)) {
            svg.push_str(&format!(
                "<clipPath id=\"{id}-clip-{index}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
                number(rect.x + PADDING - 2.0),
                number(rect.y),
                number(rect.width - 2.0 * PADDING + 4.0),
                number(rect.height)
            ));
        }
    }
    svg.push_str("</defs>");
}

fn label(svg: &mut String, edge: &PlannedEdge, rect: Rect) {
    // The exact condition, then the notes.
    let tooltip: Vec<&str> = edge
        .condition
        .iter()
        .map(String::as_str)
        .chain(edge.lines.iter().filter(|line| !line.condition).map(|line| line.text.as_str()))
        .collect();
    let tooltip = tooltip.join("\n");
    svg.push_str(&format!(
        "<g class=\"edge-label\" data-from=\"{}\" data-to=\"{}\"><title>{}</title><rect x=\"{}\" y=\"{}\" \
         width=\"{}\" height=\"{}\" rx=\"4\" fill=\"#ffffff\" fill-opacity=\"0.96\" stroke=\"#e2e8f0\"/>",
        escape(&edge.from),
        escape(&edge.to),
        escape(&tooltip),
        number(rect.x),
        number(rect.y),
        number(rect.width),
        number(rect.height)
    ));
    for (line_index, line) in edge.lines.iter().enumerate() {
        let colour = match line.condition {
            true => "#1e293b",
            false if edge.timeout => "#b45309",
            false => MUTED,
        };
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-family=\"{SANS}\" font-size=\"{}\" \
             fill=\"{colour}\">{}</text>",
            number(rect.center_x()),
            number(rect.y + LABEL_PADDING / 2.0 + LABEL_LINE * (line_index as f64 + 1.0) - 3.5),
            number(line.size),
            escape(&line.text)
        ));
    }
    svg.push_str("</g>");
}

fn pill(svg: &mut String, class: &str, node: &str, text: &str, palette: Palette, rect: Rect) {
    svg.push_str(&format!(
        "<g class=\"{class}\" data-node=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" \
         fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" \
         font-size=\"12\" font-weight=\"700\" letter-spacing=\"0.3\" fill=\"{}\">{}</text></g>",
        escape(node),
        number(rect.x),
        number(rect.y),
        number(rect.width),
        number(rect.height),
        number(rect.height / 2.0),
        palette.fill,
        palette.stroke,
        palette.width,
        number(rect.center_x()),
        number(rect.center_y() + 4.0),
        palette.text,
        escape(text)
    ));
}

fn task_box(
    svg: &mut String,
    id: &str,
    index: usize,
    task: &Task,
    state: Option<TaskState>,
    link_prefix: Option<&str>,
    rect: Rect,
) {
    let palette = state.map_or(NEUTRAL, |state| state.status.palette());
    let mut class = String::from("task");
    if let Some(state) = state {
        class.push(' ');
        class.push_str(state.status.class());
    }
    if task.kind.is_automated() {
        class.push_str(" automated");
    }
    if let Some(prefix) = link_prefix {
        svg.push_str(&format!("<a href=\"{}{}\">", escape(prefix), escape(&task.key)));
    }
    let meta = meta_line(task);
    svg.push_str(&format!(
        "<g class=\"{class}\" data-task=\"{}\"><title>{}</title><rect class=\"box\" x=\"{}\" y=\"{}\" width=\"{}\" \
         height=\"{}\" rx=\"8\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>",
        escape(&task.key),
        escape(&format!("{}\n{meta}", task.title)),
        number(rect.x),
        number(rect.y),
        number(rect.width),
        number(rect.height),
        palette.fill,
        palette.stroke,
        palette.width,
        palette.dash.map(|dash| format!(" stroke-dasharray=\"{dash}\"")).unwrap_or_default()
    ));
    let inner = rect.width - 2.0 * PADDING;
    let join = task.join == Join::All;
    let join_width = JOIN_TAG_WIDTH;
    let has_watch = !task.watch.is_empty();
    let (title_y, meta_y) = if has_watch { (rect.y + 20.0, rect.y + 37.0) } else { (rect.y + 22.0, rect.y + 40.0) };
    svg.push_str(&format!("<g clip-path=\"url(#{id}-clip-{index})\">"));
    svg.push_str(&format!(
        "<text class=\"title\" x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"600\" fill=\"{}\">{}</text>",
        number(rect.x + PADDING),
        number(title_y),
        palette.text,
        escape(&fit(&task.title, inner, 13.0, Font::Bold))
    ));
    let meta_room = if join { inner - join_width - 6.0 } else { inner };
    svg.push_str(&format!(
        "<text class=\"meta\" x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{}\">{}</text>",
        number(rect.x + PADDING),
        number(meta_y),
        if palette.text == TEXT { MUTED } else { palette.text },
        escape(&fit(&meta, meta_room, 11.0, Font::Sans))
    ));
    if has_watch {
        let fields: Vec<String> = task.watch.iter().map(|path| format!("data.{path}")).collect();
        let text = format!("watches {}", fields.join(", "));
        svg.push_str(&format!(
            "<text class=\"watch\" x=\"{}\" y=\"{}\" font-size=\"10.5\" font-style=\"italic\" fill=\"#7c3aed\">{}</text>",
            number(rect.x + PADDING),
            number(rect.y + 54.0),
            escape(&fit(&text, inner, 10.5, Font::Sans))
        ));
    }
    svg.push_str("</g>");
    if join {
        let x = rect.right() - PADDING - join_width;
        svg.push_str(&format!(
            "<g class=\"join\"><rect x=\"{}\" y=\"{}\" width=\"{join_width}\" height=\"15\" rx=\"7.5\" \
             fill=\"#eef2ff\" stroke=\"#818cf8\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"9.5\" \
             font-weight=\"600\" fill=\"#3730a3\">join all</text></g>",
            number(x),
            number(meta_y - 11.0),
            number(x + join_width / 2.0),
            number(meta_y - 0.5)
        ));
    }
    if let Some(state) = state
        && state.runs > 0
    {
        let text = if state.runs > 99 { "99+".to_owned() } else { format!("×{}", state.runs) };
        let width = text_width(&text, 10.0, Font::Bold) + 10.0;
        svg.push_str(&format!(
            "<g class=\"runs\" data-runs=\"{}\"><title>{} run{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" \
             height=\"16\" rx=\"8\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1.5\"/><text x=\"{}\" y=\"{}\" \
             text-anchor=\"middle\" font-size=\"10\" font-weight=\"700\" fill=\"#ffffff\">{}</text></g>",
            state.runs,
            state.runs,
            if state.runs == 1 { "" } else { "s" },
            number(rect.x - 6.0),
            number(rect.y - 8.0),
            number(width),
            if state.status == TaskBadge::Idle { EDGE } else { palette.stroke },
            number(rect.x - 6.0 + width / 2.0),
            number(rect.y + 3.5),
            escape(&text)
        ));
    }
    svg.push_str("</g>");
    if link_prefix.is_some() {
        svg.push_str("</a>");
    }
}

/// The second line of a task's box: key and type.
fn meta_line(task: &Task) -> String {
    format!("{} · {}", task.key, task.kind.as_str())
}

// ---- text ----

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; newlines and tabs are.
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Words in lines of at most `width` characters; past `max_lines`, the last
/// line is cut with an ellipsis. A word longer than a line is cut too.
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let needed = current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
        if !current.is_empty() && needed > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    lines.push(current);
    if lines.len() > max_lines {
        let rest = lines.split_off(max_lines - 1).join(" ");
        lines.push(rest);
    }
    lines.into_iter().map(|line| shorten(&line, width)).collect()
}

/// At most `limit` characters, the last one an ellipsis when shortened.
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(limit.saturating_sub(1)).collect();
    short.push('…');
    short
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Font {
    Sans,
    Bold,
}

/// Estimated width of `text` in pixels. The widths are DejaVu Sans's (what a Linux
/// browser falls back to; wider than Helvetica, Arial or Segoe UI), so estimates
/// err on the wide side and text fits whatever font the browser picks.
fn text_width(text: &str, size: f64, font: Font) -> f64 {
    let em: f64 = text
        .chars()
        .map(|c| match font {
            Font::Sans => char_width(c),
            Font::Bold => char_width(c) * 1.12,
        })
        .sum();
    em * size
}

/// Advance width of a character in DejaVu Sans, in ems.
fn char_width(c: char) -> f64 {
    match c {
        ' ' => 0.32,
        'i' | 'j' | 'l' | '\'' | '|' => 0.28,
        '.' | ',' | ':' | ';' | '!' => 0.34,
        'f' | 't' | '(' | ')' | '[' | ']' | '/' | '\\' | '-' => 0.4,
        'r' => 0.42,
        'I' | 'J' => 0.3,
        's' | 'z' | 'c' | '"' => 0.55,
        'm' => 0.98,
        'w' => 0.82,
        'M' => 0.87,
        'W' => 0.99,
        '·' => 0.32,
        '…' => 1.0,
        'a'..='z' => 0.63,
        'A'..='Z' => 0.74,
        '0'..='9' => 0.64,
        '&' | '%' | '@' | '<' | '>' | '=' | '+' | '~' => 0.84,
        c if c.is_ascii() => 0.6,
        _ => 0.9,
    }
}

/// `text`, cut and ended with an ellipsis if it is wider than `room`.
fn fit(text: &str, room: f64, size: f64, font: Font) -> String {
    if text_width(text, size, font) <= room {
        return text.to_owned();
    }
    let budget = room - text_width("…", size, font);
    let mut used = 0.0;
    let mut out = String::new();
    for c in text.chars() {
        let width = text_width(c.encode_utf8(&mut [0; 4]), size, font);
        if used + width > budget {
            break;
        }
        used += width;
        out.push(c);
    }
    format!("{}…", out.trim_end())
}

#[cfg(test)]
mod tests;
