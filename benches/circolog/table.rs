//! The one table the benchmark prints.

#[derive(Default)]
pub struct Table {
    rows: Vec<Line>,
}

enum Line {
    Section(&'static str),
    Row {
        figure: String,
        value: String,
        reference: String,
        ratio: Option<f64>,
        notes: String,
    },
    Error(String),
}

impl Table {
    pub fn section(&mut self, title: &'static str) {
        self.rows.push(Line::Section(title));
    }

    pub fn row(
        &mut self,
        figure: &str,
        value: &str,
        reference: &str,
        ratio: Option<f64>,
        notes: &str,
    ) {
        self.rows.push(Line::Row {
            figure: figure.to_string(),
            value: value.to_string(),
            reference: reference.to_string(),
            ratio,
            notes: notes.to_string(),
        });
    }

    pub fn error(&mut self, e: &str) {
        eprintln!("   error: {e}");
        self.rows.push(Line::Error(e.to_string()));
    }

    pub fn print(&self) {
        let ratio = |r: &Option<f64>| r.map_or(String::new(), |r| format!("{r:.2}"));
        let (mut wf, mut wv, mut wr) = ("figure".len(), "value".len(), "reference".len());
        for l in &self.rows {
            if let Line::Row {
                figure,
                value,
                reference,
                ..
            } = l
            {
                wf = wf.max(figure.chars().count());
                wv = wv.max(value.chars().count());
                wr = wr.max(reference.chars().count());
            }
        }
        let line = |f: &str, v: &str, r: &str, x: &str, n: &str| {
            format!("{f:<wf$}  {v:>wv$}  {r:<wr$}  {x:>5}  {n}")
                .trim_end()
                .to_string()
        };
        println!("{}", line("figure", "value", "reference", "ratio", "notes"));
        for l in &self.rows {
            match l {
                Line::Section(t) => println!("\n{t}"),
                Line::Row {
                    figure,
                    value,
                    reference,
                    ratio: r,
                    notes,
                } => println!("{}", line(figure, value, reference, &ratio(r), notes)),
                Line::Error(e) => println!("  error: {e}"),
            }
        }
    }
}

/// Messages per second, for people.
pub fn fmt_rate(r: f64) -> String {
    format!("{}/s", fmt_count(r))
}

/// A large number, for people: `3.88 M`, `274 k`, `0.8 k`.
pub fn fmt_count(r: f64) -> String {
    if !r.is_finite() {
        "-".into()
    } else if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.0} k", r / 1e3)
    } else {
        format!("{:.1} k", r / 1e3)
    }
}

pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1 << 20) as f64 {
        format!("{:.1} MiB", b / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", b / 1024.0)
    }
}
