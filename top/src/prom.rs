//! The Prometheus text format (0.0.4) as pincore-server's `/metrics` writes it, read into plain samples.
//! Pure: text in, samples out.

use std::collections::BTreeMap;

/// One sample: a series name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, or "".
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map(String::as_str).unwrap_or("")
    }
}

/// Every sample of a scrape, in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape(pub Vec<Sample>);

impl Scrape {
    /// Parses exposition text. Comment lines are skipped; a line that does not parse is an error naming it.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut samples = Vec::new();
        for (no, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples
                .push(parse_line(line).map_err(|why| format!("line {}: {why}: {line}", no + 1))?);
        }
        Ok(Scrape(samples))
    }

    /// The samples of series `name`.
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().filter(move |s| s.name == name)
    }

    /// The series names present, deduplicated.
    pub fn names(&self) -> std::collections::BTreeSet<&str> {
        self.0.iter().map(|s| s.name.as_str()).collect()
    }
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let (series, value) = line.rsplit_once(' ').ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .map_err(|_| format!("value {v:?} is not a number"))?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let inner = rest.strip_suffix('}').ok_or("labels not closed by }")?;
            (name, parse_labels(inner)?)
        }
    };
    if name.is_empty() {
        return Err("no series name".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn parse_labels(mut rest: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").ok_or("label without =\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("label value ends in \\".into()),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("label value not closed".into()),
            }
        };
        labels.insert(key.trim_start_matches(',').trim().to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_and_labels_parse() {
        let text = "# HELP x y\n# TYPE x counter\nx{a=\"1\",b=\"q\\\"uote, comma\"} 5\nup 1\nh_bucket{le=\"+Inf\"} 3\n";
        let s = Scrape::parse(text).unwrap();
        assert_eq!(s.0.len(), 3);
        assert_eq!(s.0[0].label("b"), "q\"uote, comma");
        assert_eq!(s.0[0].value, 5.0);
        assert_eq!(s.0[1].name, "up");
        assert_eq!(s.0[2].label("le"), "+Inf");
        assert!(Scrape::parse("x{a=\"1} 2\n").is_err());
        assert!(Scrape::parse("x 1 2 three\n").is_err());
    }
}
