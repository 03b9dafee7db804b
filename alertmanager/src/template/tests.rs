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
