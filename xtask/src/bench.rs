//! `BENCH <metric>=<integer>` lines: parsing, the table and the JSON report.

use std::collections::BTreeMap;

/// Metrics by name, sorted.
pub type Metrics = BTreeMap<String, i64>;

fn valid_metric(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'))
}

/// Collects the metrics of every line holding the word `BENCH` (after whatever prefix a logger
/// adds): the next word is `<metric>=<integer>` and ends the line. A malformed or repeated
/// metric is an error naming its line.
pub fn parse(output: &str) -> Result<Metrics, String> {
    let mut metrics = Metrics::new();
    for (n, line) in output.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "BENCH") else {
            continue;
        };
        let bad = || {
            format!(
                "output line {}: malformed BENCH line {line:?}, expected 'BENCH <metric>=<integer>'",
                n + 1
            )
        };
        let [item] = &words[at + 1..] else {
            return Err(bad());
        };
        let (name, value) = item.split_once('=').ok_or_else(bad)?;
        if !valid_metric(name) {
            return Err(bad());
        }
        let value: i64 = value.parse().map_err(|_| bad())?;
        if metrics.insert(name.to_string(), value).is_some() {
            return Err(format!(
                "output line {}: metric '{name}' is reported twice",
                n + 1
            ));
        }
    }
    Ok(metrics)
}

/// Ratios derived from pairs of metrics: for every `<base>.plain.instructions` with a matching
/// `<base>.instructions` (the same workload with the feature on), `<base>.ratio` = on / off.
pub fn ratios(metrics: &Metrics) -> BTreeMap<String, f64> {
    metrics
        .iter()
        .filter_map(|(k, off)| {
            let base = k.strip_suffix(".plain.instructions")?;
            let on = metrics.get(&format!("{base}.instructions"))?;
            (*off != 0).then(|| (format!("{base}.ratio"), *on as f64 / *off as f64))
        })
        .collect()
}

/// The table of `metrics` plus their [`ratios`] (three decimals).
pub fn table_with_ratios(metrics: &Metrics) -> String {
    let width = metrics
        .keys()
        .map(|k| k.len())
        .max()
        .unwrap_or(0)
        .max("metric".len());
    let mut out = table(metrics);
    for (k, v) in ratios(metrics) {
        out += &format!("{k:<width$}  {v:>9.3}\n");
    }
    out
}

/// A two-column table, metric names left-aligned, values right-aligned.
pub fn table(metrics: &Metrics) -> String {
    let name_width = metrics
        .keys()
        .map(|k| k.len())
        .max()
        .unwrap_or(0)
        .max("metric".len());
    let value_width = metrics
        .values()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(0)
        .max("value".len());
    let mut out = format!("{:<name_width$}  {:>value_width$}\n", "metric", "value");
    for (k, v) in metrics {
        out += &format!("{k:<name_width$}  {v:>value_width$}\n");
    }
    out
}

/// `{"arch": "aarch64", "metrics": {"name": value, ...}}`, pretty-printed.
pub fn json(arch: &str, metrics: &Metrics) -> String {
    let mut all = serde_json::Map::new();
    for (k, v) in metrics {
        all.insert(k.clone(), serde_json::json!(v));
    }
    for (k, v) in ratios(metrics) {
        all.insert(k, serde_json::json!((v * 1000.0).round() / 1000.0));
    }
    let value = serde_json::json!({ "arch": arch, "metrics": all });
    serde_json::to_string_pretty(&value).expect("JSON of strings and integers") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bench_lines() {
        let out = "boot\nBENCH ipc.roundtrip.0w.instructions=1234\r\n\
                   [bench] BENCH ipc.roundtrip.4w.instructions=1300\n\
                   BENCHMARKS start\nBENCH delta=-5\n";
        let m = parse(out).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m["ipc.roundtrip.0w.instructions"], 1234);
        assert_eq!(m["ipc.roundtrip.4w.instructions"], 1300);
        assert_eq!(m["delta"], -5);
        assert!(parse("no metrics here\n").unwrap().is_empty());
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "BENCH x=",
            "BENCH x=1.5",
            "BENCH =3",
            "BENCH x",
            "BENCH",
            "BENCH x=1 y=2",
            "BENCH x=99999999999999999999",
            "BENCH a b=1",
        ] {
            let e = parse(&format!("ok\n{bad}\n")).unwrap_err();
            assert!(
                e.starts_with("output line 2: malformed BENCH line"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            parse("BENCH x=1\nBENCH x=2\n").unwrap_err(),
            "output line 2: metric 'x' is reported twice"
        );
    }

    #[test]
    fn ratios_pair_plain_and_transactional_figures() {
        let mut m = Metrics::new();
        m.insert("tx.get.instructions".into(), 1020);
        m.insert("tx.get.plain.instructions".into(), 1000);
        m.insert("tx.put.plain.instructions".into(), 500);
        let r = ratios(&m);
        assert_eq!(r.len(), 1);
        assert!((r["tx.get.ratio"] - 1.02).abs() < 1e-9);
        let j: serde_json::Value = serde_json::from_str(&json("x86_64", &m)).unwrap();
        assert_eq!(j["metrics"]["tx.get.ratio"], serde_json::json!(1.02));
        assert!(table_with_ratios(&m).contains("tx.get.ratio"));
    }

    #[test]
    fn table_and_json() {
        let mut m = Metrics::new();
        m.insert("b.long.metric".into(), 5);
        m.insert("a".into(), 123456);
        assert_eq!(
            table(&m),
            "metric          value\na              123456\nb.long.metric       5\n"
        );
        let j: serde_json::Value = serde_json::from_str(&json("aarch64", &m)).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"arch": "aarch64", "metrics": {"a": 123456, "b.long.metric": 5}})
        );
    }
}
