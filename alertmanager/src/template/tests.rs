#![allow(clippy::unwrap_used)]

use super::*;
use crate::RuleSample;

fn data(value: f64) -> TemplateData {
    let mut d = TemplateData {
        value,
        ..TemplateData::default()
    };
    d.labels.insert("instance".into(), "host-1:9100".into());
    d.labels.insert("job".into(), "node".into());
    d.external_labels.insert("cluster".into(), "eu1".into());
    d
}

fn render(src: &str, value: f64) -> String {
    Template::parse(src)
        .unwrap()
        .render(&data(value), None)
        .unwrap()
}

#[test]
fn variables_and_fields() {
    assert_eq!(
        render("{{ $labels.job }} on {{ .Labels.instance }}", 1.0),
        "node on host-1:9100"
    );
    assert_eq!(
        render("{{$externalLabels.cluster}}/{{ $value }}", 0.25),
        "eu1/0.25"
    );
    assert_eq!(render("{{ $labels.missing }}|", 0.0), "|");
    assert_eq!(render("{{ .Value }}", 1e6), "1e+06");
}

#[test]
fn humanize_family() {
    assert_eq!(render("{{ humanize $value }}", 1234567.0), "1.235M");
    assert_eq!(render("{{ $value | humanize }}", 0.0012), "1.2m");
    assert_eq!(render("{{ humanize 0 }}", 0.0), "0");
    assert_eq!(render("{{ humanize1024 $value }}", 1048576.0), "1Mi");
    assert_eq!(
        render("{{ humanizeDuration $value }}", 93784.0),
        "1d 2h 3m 4s"
    );
    assert_eq!(render("{{ humanizeDuration $value }}", 65.0), "1m 5s");
    assert_eq!(render("{{ humanizeDuration $value }}", 1.5), "1.5s");
    assert_eq!(render("{{ humanizeDuration $value }}", 0.0015), "1.5ms");
    assert_eq!(render("{{ humanizePercentage $value }}", 0.1234), "12.34%");
    assert_eq!(
        render("{{ humanizeTimestamp $value }}", 1435065584.128),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
}

#[test]
fn strings_and_regexes() {
    assert_eq!(
        render("{{ toUpper \"abc\" }}{{ toLower \"DeF\" }}", 0.0),
        "ABCdef"
    );
    assert_eq!(
        render("{{ title \"hello big world\" }}", 0.0),
        "Hello Big World"
    );
    assert_eq!(
        render(r#"{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}"#, 0.0),
        "host-1"
    );
    assert_eq!(
        render(
            r#"{{ if match "^node" $labels.job }}yes{{ else }}no{{ end }}"#,
            0.0
        ),
        "yes"
    );
    assert_eq!(render(r#"{{ printf "%.1f%%" $value }}"#, 12.345), "12.3%");
    assert_eq!(render("{{ $labels.instance | stripPort }}", 0.0), "host-1");
}

#[test]
fn control_flow_and_trim() {
    let src =
        "{{- if gt $value 10.0 }} high {{- else if gt $value 5.0 }} mid {{- else }} low {{- end }}";
    assert_eq!(render(src, 11.0), " high");
    assert_eq!(render(src, 6.0), " mid");
    assert_eq!(render(src, 1.0), " low");
    assert_eq!(
        render("{{ range $k, $v := $labels }}{{$k}}={{$v}};{{ end }}", 0.0),
        "instance=host-1:9100;job=node;"
    );
    assert_eq!(render("{{ $x := 3 }}{{ $x }}", 0.0), "3");
    assert_eq!(render("a {{/* note */}} b", 0.0), "a  b");
    assert_eq!(
        render("{{ with $labels.job }}[{{ . }}]{{ end }}", 0.0),
        "[node]"
    );
}

#[test]
fn query_functions() {
    let q = |e: &str| -> std::result::Result<crate::QueryResult, String> {
        assert_eq!(e, "up");
        Ok(vec![RuleSample {
            labels: sightline_model::Labels::from_pairs([("instance", "b")]),
            value: 42.0,
        }])
    };
    let t = Template::parse(r#"{{ with query "up" }}{{ . | first | value }} {{ . | first | label "instance" }}{{ end }}"#).unwrap();
    assert_eq!(t.render(&data(0.0), Some(&q)).unwrap(), "42 b");
}

#[test]
fn parse_errors() {
    for bad in [
        "{{ nosuchfunc 1 }}",
        "{{ $undefined }}",
        "{{ if true }}open",
        "{{ end }}",
        "{{ $labels.job ",
    ] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
    assert!(expand("{{ first 1 }}", &data(0.0), None).starts_with("<error expanding template: "));
}

fn notification_data() -> Value {
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let alert = Value::Object(BTreeMap::from([
        ("Status".to_string(), Value::Str("firing".into())),
        (
            "Labels".to_string(),
            Value::Map(labels(&[("alertname", "Disk"), ("job", "node")])),
        ),
        (
            "Annotations".to_string(),
            Value::Map(labels(&[("summary", "full")])),
        ),
        ("GeneratorURL".to_string(), Value::Str("http://p/g".into())),
    ]));
    Value::Object(BTreeMap::from([
        ("Status".to_string(), Value::Str("firing".into())),
        ("Receiver".to_string(), Value::Str("team a".into())),
        ("ExternalURL".to_string(), Value::Str("http://am".into())),
        ("Alerts".to_string(), Value::List(vec![alert])),
        (
            "GroupLabels".to_string(),
            Value::Map(labels(&[("alertname", "Disk")])),
        ),
        (
            "CommonLabels".to_string(),
            Value::Map(labels(&[("alertname", "Disk"), ("job", "node")])),
        ),
    ]))
}

#[test]
fn named_templates_define_call_and_block() {
    let mut set = TemplateSet::default();
    set.add(
        r#"ignored text
{{ define "t.title" }}<{{ .Status }}:{{ template "t.inner" .GroupLabels }}>{{ end }}
{{ define "t.inner" }}{{ .alertname }}{{ $.alertname }}{{ end }}
{{ define "t.nodot" }}[{{ . }}]{{ end }}"#,
    )
    .unwrap();
    let render = |src: &str| {
        Template::parse(src)
            .unwrap()
            .render_value_in(notification_data(), Some(&set))
            .unwrap()
    };
    assert_eq!(render(r#"{{ template "t.title" . }}"#), "<firing:DiskDisk>");
    assert_eq!(render(r#"{{ template "t.nodot" }}"#), "[<no value>]");
    // A text's own definitions win over the set's.
    assert_eq!(
        render(r#"{{ define "t.inner" }}own{{ end }}{{ template "t.title" . }}"#),
        "<firing:own>"
    );
    // `block` defines and calls in one place.
    assert_eq!(
        render(r#"a{{ block "b" .Receiver }}({{ . }}){{ end }}z"#),
        "a(team a)z"
    );
    // Calls are found for load-time checks.
    let t = Template::parse(
        r#"{{ if true }}{{ template "x" . }}{{ end }}{{ define "y" }}{{ template "z" }}{{ end }}"#,
    )
    .unwrap();
    assert_eq!(
        t.calls().into_iter().collect::<Vec<_>>(),
        ["x".to_string(), "z".to_string()]
    );
    // Missing names and runaway recursion are errors, not hangs.
    let e = Template::parse(r#"{{ template "missing" . }}"#)
        .unwrap()
        .render_value_in(notification_data(), Some(&set))
        .unwrap_err();
    assert!(e.to_string().contains("no template \"missing\""), "{e}");
    let e = Template::parse(r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#)
        .unwrap()
        .render_value(Value::Nil)
        .unwrap_err();
    assert!(e.to_string().contains("maximum template depth"), "{e}");
    for bad in [
        r#"{{ if true }}{{ define "x" }}{{ end }}{{ end }}"#,
        r#"{{ define "x" }}open"#,
        r#"{{ template x }}"#,
        r#"{{ define "x" }}{{ $labels }}{{ end }}"#,
    ] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn alertmanager_default_names() {
    let set = TemplateSet::default();
    assert!(set.undefined_calls().is_empty());
    let render = |src: &str| {
        Template::parse(src)
            .unwrap()
            .render_value_in(notification_data(), Some(&set))
            .unwrap()
    };
    assert_eq!(
        render(r#"{{ template "slack.default.title" . }}"#),
        "[FIRING:1] Disk (node)"
    );
    assert_eq!(
        render(r#"{{ template "slack.default.titlelink" . }}"#),
        "http://am/#/alerts?receiver=team+a"
    );
    assert_eq!(
        render(r#"{{ template "__text_alert_list" .Alerts.Firing }}"#),
        "Labels:\n - alertname = Disk\n - job = node\nAnnotations:\n - summary = full\nSource: http://p/g\n"
    );
    assert_eq!(
        render(
            r#"{{ .CommonLabels.Remove .GroupLabels.Names }} {{ .CommonLabels.SortedPairs.Names | join "," }}"#
        ),
        "map[job:node] alertname,job"
    );
    assert_eq!(render(r#"{{ " x " | trimSpace }}"#), "x");
}
