#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Diagrams of the examples and of odd definitions: structure of the SVG, the
//! layout's geometry (no overlaps, no edge through a box), the state overlay,
//! escaping; and a property test over random graphs.

use super::layout::{Graph, GraphEdge, Layout, Point, Rect, Size, compute};
use super::*;
use crate::document::Syntax;
use proptest::prelude::*;

const EXAMPLES: [(&str, &str); 4] = [
    ("document-edit", include_str!("../../../../examples/document-edit.yaml")),
    ("venue-map", include_str!("../../../../examples/venue-map.yaml")),
    ("customer-support", include_str!("../../../../examples/customer-support.yaml")),
    ("order-fulfilment", include_str!("../../../../examples/order-fulfilment.yaml")),
];

/// Everything odd at once: a self-loop, a watcher, a join without depends_on, an
/// edge both timed out and prioritised, long titles and conditions, a task no
/// transition reaches from start, every end status.
const ODD: &str = r#"
format: ticketflower/v1
key: odd-one
title: Odd one
fields:
  type: object
  properties:
    note: {type: string}
    count: {type: integer}
    tags: {type: array, items: {type: string}}
tickets:
  - key: request
    title: Request
    fields: {type: object, properties: {note: {type: string}}}
tasks:
  - {key: intake, title: Intake and a rather long title for a box, type: form, due: PT1H, output_schema: {type: object, properties: {count: {type: integer}}}}
  - {key: retry_call, title: Call the flaky service, type: http, action: {url: "https://example.com/x"}, output_schema: {type: object, properties: {count: {type: integer}}}}
  - {key: left, title: Left branch, type: form, output_schema: {type: object}}
  - {key: right, title: Right branch, type: ai, prompt: "Say hi", output_schema: {type: object, properties: {note: {type: string}}}}
  - {key: merge, title: Merge both, type: approval, join: all}
  - {key: recount, title: Recount when notes change, type: form, watch: [data.note, data.count], output_schema: {type: object}}
transitions:
  - {from: start, to: intake}
  - {from: intake, to: retry_call, when: {"data.tags": {$elemMatch: {$in: [urgent, "very urgent"]}}, "data.count": {$gte: 3}}}
  - {from: intake, to: left, when: {"data.count": {$lt: 3}}, priority: -2}
  - {from: intake, status: ON_HOLD, on: timeout, priority: 5}
  - {from: retry_call, to: retry_call, when: {"output.count": {$lt: 10}}}
  - {from: retry_call, to: right}
  - {from: left, to: merge}
  - {from: right, to: merge}
  - {from: merge, to: intake, when: {"output.decision": rejected}}
  - {from: merge, status: COMPLETED, when: {"output.decision": approved}}
  - {from: recount, status: CANCELLED, when: {"data.count": 0}}
  - {from: left, to: recount}
"#;

fn load(text: &str) -> Definition {
    let loaded = Definition::load_str(text, Syntax::Yaml);
    match loaded.definition {
        Some(definition) => definition,
        None => panic!("the definition does not load: {:#?}", loaded.problems),
    }
}

fn example(name: &str) -> Definition {
    load(EXAMPLES.iter().find(|(key, _)| *key == name).unwrap().1)
}

/// A small definition around the given tasks and transitions (YAML, indented by 2).
fn definition(title: &str, tasks: &str, transitions: &str) -> Definition {
    load(&format!(
        "format: ticketflower/v1\nkey: demo\ntitle: {title}\nfields:\n  type: object\n  properties:\n    \
         note: {{type: string}}\n    done: {{type: boolean}}\ntickets:\n  - key: request\n    title: Request\n    \
         fields: {{type: object, properties: {{note: {{type: string}}}}}}\ntasks:\n{tasks}\ntransitions:\n{transitions}\n"
    ))
}

/// Checks that `xml` is well formed: tags balance, attributes are quoted, and
/// every `&` starts a known entity. Returns the element names in document order.
fn assert_well_formed(xml: &str) -> Vec<String> {
    fn check_text(text: &str) {
        assert!(!text.contains('<'), "raw < in {text:?}");
        let mut rest = text;
        while let Some(at) = rest.find('&') {
            rest = &rest[at..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|entity| rest.starts_with(entity)),
                "bad entity at {:?}",
                &rest[..rest.len().min(12)]
            );
            rest = &rest[1..];
        }
    }
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = xml.trim();
    assert!(rest.starts_with("<svg"), "starts with <svg");
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = open + rest[open..].find('>').expect("a tag ends");
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "closing tag matches");
        } else {
            let (body, empty) = match tag.strip_suffix('/') {
                Some(body) => (body, true),
                None => (tag, false),
            };
            let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
            let name = &body[..name_end];
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'));
            // Attributes: name="value" pairs.
            let mut attributes = body[name_end..].trim();
            let mut seen = Vec::new();
            while !attributes.is_empty() {
                let equals = attributes.find("=\"").unwrap_or_else(|| panic!("attribute in <{tag}>"));
                let attribute = attributes[..equals].trim();
                assert!(!seen.contains(&attribute), "attribute {attribute} twice in <{name}>");
                seen.push(attribute);
                let value_end = equals + 2 + attributes[equals + 2..].find('"').expect("attribute value ends");
                check_text(&attributes[equals + 2..value_end]);
                attributes = attributes[value_end + 1..].trim_start();
            }
            names.push(name.to_owned());
            if !empty {
                stack.push(name.to_owned());
            }
        }
        rest = &rest[close + 1..];
        if stack.is_empty() {
            break;
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
    names
}

/// The edge groups: (class, data-from, data-to).
fn edges(svg: &str) -> Vec<(String, String, String)> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\"")).map(|at| at + name.len() + 2)?;
        Some(tag[start..start + tag[start..].find('"')?].to_owned())
    };
    svg.match_indices("<g class=\"edge")
        .filter_map(|(at, _)| {
            let tag = &svg[at..at + svg[at..].find('>').unwrap()];
            let class = attribute(tag, "class")?;
            (class == "edge" || class.starts_with("edge "))
                .then(|| (class, attribute(tag, "data-from").unwrap(), attribute(tag, "data-to").unwrap()))
        })
        .collect()
}

/// No two boxes or labels overlap; no route runs through a box or another edge's label.
fn assert_clean(layout: &Layout) {
    let mut rects: Vec<(String, Rect)> =
        layout.nodes.iter().enumerate().map(|(index, rect)| (format!("node {index}"), *rect)).collect();
    for (index, route) in layout.routes.iter().enumerate() {
        if let Some(label) = route.label {
            rects.push((format!("label of edge {index}"), label));
        }
    }
    for (index, (name, rect)) in rects.iter().enumerate() {
        assert!(rect.x >= 0.0 && rect.y >= 0.0, "{name} starts inside the drawing: {rect:?}");
        assert!(rect.right() <= layout.width && rect.bottom() <= layout.height, "{name} fits: {rect:?}");
        for (other_name, other) in &rects[index + 1..] {
            assert!(!rect.overlaps(other), "{name} {rect:?} overlaps {other_name} {other:?}");
        }
    }
    for (index, route) in layout.routes.iter().enumerate() {
        for point in route.sample(24) {
            for (node, rect) in layout.nodes.iter().enumerate() {
                assert!(!rect.contains(point, 1.5), "edge {index} runs through node {node} at {point:?}");
            }
            for (other, other_route) in layout.routes.iter().enumerate() {
                if let (true, Some(label)) = (other != index, other_route.label) {
                    assert!(!label.contains(point, 0.5), "edge {index} runs through the label of edge {other}");
                }
            }
            assert!(point.x >= 0.0 && point.x <= layout.width && point.y >= 0.0 && point.y <= layout.height);
        }
    }
}

#[test]
fn the_examples_render_well_formed_svg_with_one_group_per_task_and_transition() {
    for (name, text) in EXAMPLES.into_iter().chain([("odd", ODD)]) {
        let definition = load(text);
        let svg = render_svg(&definition, &DiagramOptions::default());
        let names = assert_well_formed(&svg);
        assert_eq!(names[0], "svg", "{name}");
        assert!(svg.contains("role=\"img\""), "{name}");
        assert!(svg.contains(&format!(">{}</title>", definition.title)), "{name}");
        assert!(svg.contains("viewBox=\"0 0 "), "{name}");
        assert!(!svg.contains("<script"), "{name}");
        assert!(!svg.contains("http://") || !svg.replace("http://www.w3.org/2000/svg", "").contains("http://"));
        for task in &definition.tasks {
            assert_eq!(svg.matches(&format!("data-task=\"{}\"", task.key)).count(), 1, "{name}: {}", task.key);
        }
        assert_eq!(svg.matches("data-task=\"").count(), definition.tasks.len(), "{name}");
        let drawn = edges(&svg);
        assert_eq!(drawn.len(), definition.transitions.len(), "{name}: one edge per transition");
        for transition in &definition.transitions {
            let from = definition.source_name(transition.from).to_owned();
            let to = match transition.target {
                Target::Task(task) => definition.tasks[task].key.clone(),
                Target::Status(status) => status.as_str().to_owned(),
            };
            assert!(drawn.iter().any(|(_, f, t)| *f == from && *t == to), "{name}: {from} → {to}");
        }
        assert!(svg.contains("data-node=\"start\""), "{name}");
        let layout = layout(&definition);
        assert_eq!(layout.nodes.len(), 1 + definition.tasks.len() + svg.matches("<g class=\"end ").count());
        assert_clean(&layout);
    }
}

#[test]
fn the_examples_draw_the_end_statuses_they_use() {
    let order = render_svg(&example("order-fulfilment"), &DiagramOptions::default());
    for status in ["COMPLETED", "CANCELLED", "ON_HOLD"] {
        assert_eq!(order.matches(&format!("data-node=\"{status}\"")).count(), 1, "{status}");
    }
    let edit = render_svg(&example("document-edit"), &DiagramOptions::default());
    assert!(edit.contains("data-node=\"COMPLETED\""));
    assert!(!edit.contains("data-node=\"CANCELLED\""));
    assert!(!edit.contains("data-node=\"ON_HOLD\""));
}

#[test]
fn the_loop_back_of_document_edit_is_a_back_edge_around_the_side() {
    let definition = example("document-edit");
    let svg = render_svg(&definition, &DiagramOptions::default());
    let drawn = edges(&svg);
    let back: Vec<_> = drawn.iter().filter(|(class, _, _)| class.split(' ').any(|c| c == "back")).collect();
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].0.as_str(), back[0].1.as_str(), back[0].2.as_str()), ("edge back", "answer", "edit"));
    assert!(svg.contains("<g class=\"edge back\" data-from=\"answer\" data-to=\"edit\""));

    // Geometry: edit sits above answer; the loop leaves answer's right side and
    // enters edit's right side, passing right of both boxes.
    let layout = layout(&definition);
    let (edit, answer) = (layout.nodes[1], layout.nodes[2]);
    assert!(edit.bottom() + 40.0 <= answer.y, "layers are at least 40 px apart");
    let index = definition.transitions.iter().position(|t| t.from == Source::Task(1)).unwrap();
    let route = &layout.routes[index];
    assert!(route.back);
    let points = route.sample(12);
    let (first, last) = (points[0], points[points.len() - 1]);
    assert_eq!(first.x, answer.right());
    assert_eq!(last.x, edit.right());
    assert!(points.iter().all(|point| point.x >= edit.right().min(answer.right())));
    assert!(points.iter().any(|point| point.x > edit.right() + 10.0));
}

#[test]
fn customer_support_marks_its_loop_timeouts_and_priorities() {
    let svg = render_svg(&example("customer-support"), &DiagramOptions::default());
    let drawn = edges(&svg);
    let find = |from: &str, to: &str| {
        drawn.iter().filter(|(_, f, t)| f == from && t == to).map(|(class, _, _)| class.as_str()).collect::<Vec<_>>()
    };
    assert_eq!(find("confirm", "triage"), vec!["edge back"]);
    assert_eq!(find("triage", "escalate"), vec!["edge timeout"]);
    let mut to_completed = find("confirm", "COMPLETED");
    to_completed.sort();
    assert_eq!(to_completed, vec!["edge", "edge timeout"]);
    assert!(svg.contains(">on timeout</text>"));
    assert!(svg.contains(">priority 10</text>"));
}

#[test]
fn conditions_label_their_edges_in_words_with_the_exact_json_in_the_tooltip() {
    let svg = render_svg(&example("document-edit"), &DiagramOptions::default());
    assert!(svg.contains(">data.questions exists</text>"), "{svg}");
    assert!(svg.contains(&format!("<title>{}</title>", escape(r#"{"data.questions":{"$exists":true}}"#))));
    // The COMPLETED condition takes two lines; the tooltip keeps the JSON whole.
    assert!(svg.contains(">data.updated_doc exists and</text>"), "{svg}");
    assert!(svg.contains(">data.questions does not exist</text>"), "{svg}");
    let whole = r#"{"data.updated_doc":{"$exists":true},"data.questions":{"$exists":false}}"#;
    assert!(svg.contains(&format!("<title>{}</title>", escape(whole))));
}

#[test]
fn long_conditions_wrap_on_two_lines_and_are_cut_after() {
    assert_eq!(wrap("a b c", 40, 2), vec!["a b c"]);
    assert_eq!(wrap("aaa bbb ccc", 7, 2), vec!["aaa bbb", "ccc"]);
    assert_eq!(wrap("aaa bbb ccc ddd eee", 7, 2), vec!["aaa bbb".to_owned(), "ccc dd…".to_owned()]);
    assert_eq!(wrap("abcdefghij", 5, 2), vec!["abcd…"]);
    assert_eq!(shorten("abc", 3), "abc");
    assert_eq!(shorten("abcd", 3), "ab…");
}

#[test]
fn venue_map_draws_its_depends_on_edges_with_join_markers() {
    let definition = example("venue-map");
    let svg = render_svg(&definition, &DiagramOptions::default());
    let joins = definition.tasks.iter().filter(|task| task.join == Join::All).count();
    assert!(joins >= 4);
    assert_eq!(svg.matches(">join all</text>").count(), joins);
    let drawn = edges(&svg);
    assert_eq!(drawn.iter().filter(|(_, _, to)| to == "qa").count(), 6);
    assert_eq!(drawn.iter().filter(|(class, _, _)| class.contains("depends")).count(), 14);
    assert_eq!(
        drawn.iter().filter(|(class, _, _)| class.contains("back")).map(|e| (&e.1[..], &e.2[..])).collect::<Vec<_>>(),
        vec![("fix_map", "qa")]
    );
}

#[test]
fn a_transition_written_beside_depends_on_is_drawn_once() {
    let definition = definition(
        "Twice",
        "  - {key: a, title: A, type: form, output_schema: {type: object}}\n  \
         - {key: b, title: B, type: form, depends_on: [a], output_schema: {type: object}}",
        "  - {from: start, to: a}\n  - {from: a, to: b}\n  - {from: b, status: COMPLETED}",
    );
    assert_eq!(definition.transitions.len(), 4, "the loader keeps both");
    let svg = render_svg(&definition, &DiagramOptions::default());
    let drawn = edges(&svg);
    assert_eq!(drawn.iter().filter(|(_, from, to)| from == "a" && to == "b").count(), 1);
    assert_eq!(drawn.len(), 3);
    assert_clean(&layout(&definition));
}

#[test]
fn watching_tasks_say_what_they_watch() {
    let definition = definition(
        "Watch",
        "  - {key: a, title: A, type: form, output_schema: {type: object, properties: {note: {type: string}}}}\n  \
         - {key: b, title: B, type: form, watch: [data.note], output_schema: {type: object}}",
        "  - {from: start, to: a}\n  - {from: a, to: b}\n  - {from: b, status: COMPLETED}",
    );
    let svg = render_svg(&definition, &DiagramOptions::default());
    assert!(svg.contains(">watches data.note</text>"), "{svg}");
    let layout = layout(&definition);
    assert_eq!(layout.nodes[2].height, WATCH_TASK_HEIGHT);
    assert_clean(&layout);
}

#[test]
fn every_text_from_the_user_is_escaped() {
    let definition = definition(
        "'Odd <&\"> title'",
        "  - {key: a, title: '<script>alert(\"&\")</script>', type: form, output_schema: {type: object}}",
        "  - {from: start, to: a}\n  - {from: a, status: COMPLETED, when: {\"data.note\": \"<b>&'\"}}",
    );
    let svg = render_svg(&definition, &DiagramOptions { states: None, link_prefix: Some("/t?x=1&y=\"") });
    assert_well_formed(&svg);
    assert!(!svg.contains("<script"));
    assert!(!svg.contains("<b>"));
    assert!(svg.contains("<title id=\"") && svg.contains(">Odd &lt;&amp;&quot;&gt; title</title>"));
    assert!(svg.contains("&lt;script&gt;alert(&quot;&amp;&quot;)&lt;/script&gt;"));
    assert!(svg.contains("href=\"/t?x=1&amp;y=&quot;a\""));
    assert!(svg.contains("&lt;b&gt;&amp;&#39;"));
}

#[test]
fn long_titles_are_cut_to_fit_their_box() {
    let long = "A very long task title that could never fit into one box of the diagram";
    let definition = definition(
        "Long",
        &format!("  - {{key: a, title: {long}, type: form, output_schema: {{type: object}}}}"),
        "  - {from: start, to: a}\n  - {from: a, status: COMPLETED}",
    );
    let svg = render_svg(&definition, &DiagramOptions::default());
    let shown = fit(long, TASK_MAX_WIDTH - 2.0 * PADDING, 13.0, Font::Bold);
    assert!(shown.ends_with('…') && shown.len() < long.len());
    assert!(svg.contains(&format!(">{shown}</text>")));
    assert!(text_width(&shown, 13.0, Font::Bold) <= TASK_MAX_WIDTH - 2.0 * PADDING);
    assert!(svg.contains(&format!("<title>{long}\na · form</title>")), "the tooltip keeps it whole");
    assert_eq!(fit("Short", 100.0, 13.0, Font::Bold), "Short");
}

#[test]
fn states_colour_the_tasks_and_count_their_runs() {
    let definition = example("document-edit");
    let states = HashMap::from([
        ("edit".to_owned(), TaskState { status: TaskBadge::Open, runs: 2 }),
        ("answer".to_owned(), TaskState { status: TaskBadge::Done, runs: 1 }),
    ]);
    let svg =
        render_svg(&definition, &DiagramOptions { states: Some(&states), link_prefix: Some("/instances/7/tasks/") });
    assert_well_formed(&svg);
    assert!(svg.contains("<a href=\"/instances/7/tasks/edit\"><g class=\"task task-open\" data-task=\"edit\">"));
    assert!(svg.contains("<a href=\"/instances/7/tasks/answer\"><g class=\"task task-done\" data-task=\"answer\">"));
    assert!(svg.contains("class=\"runs\" data-runs=\"2\""));
    assert!(svg.contains("class=\"runs\" data-runs=\"1\""));
    assert_eq!(svg.matches("class=\"runs\"").count(), 2);
    assert!(svg.contains("fill=\"#dbeafe\" stroke=\"#2563eb\""), "open is blue");
    assert!(svg.contains("fill=\"#dcfce7\" stroke=\"#16a34a\""), "done is green");
    for badge in TaskBadge::ALL {
        assert!(svg.contains(&format!(".{} .box{{", badge.class())), "a style rule for {badge:?}");
    }

    // Tasks the instance has not reached are idle; no runs, no badge.
    let states = HashMap::from([
        ("edit".to_owned(), TaskState { status: TaskBadge::Error, runs: 1 }),
        ("answer".to_owned(), TaskState { status: TaskBadge::Cancelled, runs: 0 }),
    ]);
    let svg = render_svg(&definition, &DiagramOptions { states: Some(&states), link_prefix: None });
    assert!(svg.contains("<g class=\"task task-error\" data-task=\"edit\">"));
    assert!(svg.contains("<g class=\"task task-cancelled\" data-task=\"answer\">"));
    assert_eq!(svg.matches("class=\"runs\"").count(), 1);
    assert!(!svg.contains("<a "));
    let svg = render_svg(&definition, &DiagramOptions { states: Some(&HashMap::new()), link_prefix: None });
    assert_eq!(svg.matches("class=\"task task-idle\"").count(), 2);

    // Without states, no state classes.
    let svg = render_svg(&definition, &DiagramOptions::default());
    assert_eq!(svg.matches("<g class=\"task\" data-task=").count(), 2);
}

#[test]
fn ids_are_prefixed_per_definition_so_two_diagrams_can_share_a_page() {
    let edit = render_svg(&example("document-edit"), &DiagramOptions::default());
    let venue = render_svg(&example("venue-map"), &DiagramOptions::default());
    let prefix = |svg: &str| {
        let start = svg.find("id=\"").unwrap() + 4;
        svg[start..start + svg[start..].find('"').unwrap()].to_owned()
    };
    let (a, b) = (prefix(&edit), prefix(&venue));
    assert!(a.starts_with("tfd-document-edit-") && b.starts_with("tfd-venue-map-"));
    assert!(edit.contains(&format!("<marker id=\"{a}-arrow\"")));
    assert!(edit.contains(&format!("url(#{a}-arrow)")));
    assert!(!edit.contains(&b) && !venue.contains(&a));
    assert_eq!(render_svg(&example("document-edit"), &DiagramOptions::default()), edit, "deterministic");
}

#[test]
fn the_examples_are_written_to_a_folder_when_asked() {
    // `TICKETFLOWER_DIAGRAMS=/tmp/diagrams cargo test -p ticketflower-core diagram` writes
    // the examples' SVGs, with and without a state overlay, to look at them.
    let Ok(folder) = std::env::var("TICKETFLOWER_DIAGRAMS") else { return };
    std::fs::create_dir_all(&folder).unwrap();
    for (name, text) in EXAMPLES.into_iter().chain([("odd", ODD)]) {
        let definition = load(text);
        let svg = render_svg(&definition, &DiagramOptions::default());
        std::fs::write(format!("{folder}/{name}.svg"), svg).unwrap();
        let states: HashMap<String, TaskState> = definition
            .tasks
            .iter()
            .enumerate()
            .map(|(index, task)| {
                (task.key.clone(), TaskState { status: TaskBadge::ALL[index % 5], runs: (index % 3) as u32 })
            })
            .collect();
        let svg = render_svg(&definition, &DiagramOptions { states: Some(&states), link_prefix: Some("/tasks/") });
        std::fs::write(format!("{folder}/{name}.states.svg"), svg).unwrap();
    }
}

// ---- layout of arbitrary graphs ----

#[test]
fn self_loops_and_parallel_edges_get_their_own_routes() {
    let node = Size { width: 180.0, height: 54.0 };
    let label = Some(Size { width: 120.0, height: 20.0 });
    let graph = Graph {
        nodes: vec![Size { width: 76.0, height: 32.0 }, node, node, node],
        edges: vec![
            GraphEdge { from: 0, to: 1, label: None },
            GraphEdge { from: 1, to: 1, label },
            GraphEdge { from: 1, to: 2, label },
            GraphEdge { from: 1, to: 2, label },
            GraphEdge { from: 2, to: 1, label },
            GraphEdge { from: 2, to: 0, label },
            GraphEdge { from: 1, to: 3, label: None },
            GraphEdge { from: 3, to: 3, label: None },
        ],
    };
    let layout = compute(&graph);
    assert_clean(&layout);
    assert!(layout.routes[1].back && layout.routes[4].back && layout.routes[5].back);
    assert_ne!(layout.routes[2].path_data(), layout.routes[3].path_data());
}

#[test]
fn an_empty_graph_has_an_empty_layout() {
    let layout = compute(&Graph::default());
    assert!(layout.nodes.is_empty() && layout.routes.is_empty());
    let layout = compute(&Graph {
        nodes: vec![Size { width: 10.0, height: 10.0 }],
        edges: vec![GraphEdge { from: 0, to: 5, label: None }],
    });
    assert!(layout.routes[0].segments.is_empty());
}

fn graphs() -> impl Strategy<Value = Graph> {
    let size = prop_oneof![
        Just(Size { width: 180.0, height: 54.0 }),
        Just(Size { width: 180.0, height: 68.0 }),
        Just(Size { width: 76.0, height: 32.0 }),
        (40.0..240.0_f64, 20.0..70.0_f64).prop_map(|(width, height)| Size { width, height }),
    ];
    let label = prop_oneof![
        2 => Just(None),
        1 => (10.0..300.0_f64, prop_oneof![Just(20.0), Just(34.0)]).prop_map(|(width, height)| Some(Size { width, height })),
    ];
    (1..9_usize).prop_flat_map(move |count| {
        (
            proptest::collection::vec(size.clone(), count),
            proptest::collection::vec((0..count, 0..count, label.clone()), 0..18),
        )
            .prop_map(|(nodes, edges)| Graph {
                nodes,
                edges: edges.into_iter().map(|(from, to, label)| GraphEdge { from, to, label }).collect(),
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn layouts_of_random_graphs_never_overlap(graph in graphs()) {
        let layout = compute(&graph);
        prop_assert_eq!(layout.nodes.len(), graph.nodes.len());
        prop_assert_eq!(layout.routes.len(), graph.edges.len());
        for (rect, size) in layout.nodes.iter().zip(&graph.nodes) {
            prop_assert_eq!((rect.width, rect.height), (size.width, size.height));
        }
        for route in &layout.routes {
            prop_assert!(!route.segments.is_empty());
            let points = route.sample(4);
            prop_assert!(points.iter().all(|p: &Point| p.x.is_finite() && p.y.is_finite()));
        }
        assert_clean(&layout);
    }
}

#[test]
fn large_tangled_graphs_still_lay_out_cleanly() {
    // Far denser than a real workflow: sixty boxes, twice as many edges, half labelled.
    let mut seed: u64 = 7;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for (count, edge_count) in [(20, 35), (60, 120)] {
        let edges = (0..edge_count)
            .map(|index| GraphEdge {
                from: if index < count { index } else { next(count) },
                to: next(count),
                label: (index % 2 == 0).then_some(Size { width: 200.0, height: 20.0 }),
            })
            .collect();
        let graph = Graph { nodes: vec![Size { width: 180.0, height: 54.0 }; count], edges };
        assert_clean(&compute(&graph));
    }
}
