//! A deterministic generator of container logs shaped like a small
//! Kubernetes cluster's: ingress access logs (nginx combined format), JSON
//! application logs (zap style), logfmt application logs, Java services
//! whose errors come with multi-line stack traces, and kubelet (klog) lines.
//!
//! Values come from realistic pools — a few thousand client IPs with a
//! skewed popularity, paths with ids, status codes by weight, latencies and
//! sizes with long tails, unique trace and request ids — so that the text
//! compresses and tokenizes the way real logs do: repetitive structure,
//! high-entropy ids. Lines are produced in time order across all streams;
//! the timestamp inside each line agrees with the entry's timestamp.
//!
//! One trace id, [`NEEDLE`], is planted in [`NEEDLE_LINES`] lines spread
//! over the whole set: the rare term the benchmark searches for.

use std::fmt::Write as _;

use crate::rng::SplitMix64;

/// The rare term: a trace id present in exactly [`NEEDLE_LINES`] lines.
pub const NEEDLE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// Lines holding [`NEEDLE`].
pub const NEEDLE_LINES: u64 = 24;

/// What a stream logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Json,
    Logfmt,
    Java,
    Kubelet,
}

/// One container's stream: its labels and what it writes.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub node: String,
    pub kind: Kind,
    /// Relative share of all lines.
    weight: u32,
}

impl StreamSpec {
    /// Loki's label text for the stream.
    pub fn labels(&self) -> String {
        format!(
            "{{namespace=\"{}\", pod=\"{}\", container=\"{}\", node=\"{}\", stream=\"stdout\"}}",
            self.namespace, self.pod, self.container, self.node
        )
    }

    /// The raw file the stream's lines also go to, as under `/var/log/pods`.
    pub fn file_name(&self) -> String {
        format!("{}_{}_{}.log", self.namespace, self.pod, self.container)
    }
}

const SERVICES: &[(&str, &str, Kind, u32)] = &[
    ("ingress-nginx", "controller", Kind::Access, 10),
    ("shop", "frontend", Kind::Access, 6),
    ("shop", "checkout", Kind::Json, 8),
    ("shop", "cart", Kind::Json, 6),
    ("payments", "api", Kind::Json, 6),
    ("payments", "ledger", Kind::Logfmt, 5),
    ("search", "indexer", Kind::Logfmt, 5),
    ("auth", "gateway", Kind::Logfmt, 4),
    ("orders", "service", Kind::Java, 6),
    ("inventory", "service", Kind::Java, 4),
    ("kube-system", "kubelet", Kind::Kubelet, 5),
];

/// The streams: every service above with `replicas` pods over `nodes` nodes.
pub fn streams(replicas: usize, nodes: usize, seed: u64) -> Vec<StreamSpec> {
    let mut rng = SplitMix64::new(seed ^ 0x5eed);
    let mut out = Vec::new();
    for &(namespace, container, kind, weight) in SERVICES {
        let hash = rng.hex(10);
        for r in 0..replicas.max(1) {
            let pod = if kind == Kind::Kubelet {
                format!("kubelet-node-{r}")
            } else {
                format!("{container}-{}-{}", &hash[..9], rng.hex(5))
            };
            out.push(StreamSpec {
                namespace: namespace.to_string(),
                pod,
                container: container.to_string(),
                node: format!("node-{}", (out.len() + r) % nodes.max(1)),
                kind,
                weight,
            });
        }
    }
    out
}

/// One generated line.
#[derive(Debug, Clone)]
pub struct Line {
    pub stream: usize,
    pub ts_ns: i64,
    pub text: String,
}

/// Produces lines in time order until `total_bytes` of raw text (with
/// newlines) have been produced, timestamps spread evenly over
/// `[start_ns, end_ns)`.
#[derive(Debug)]
pub struct LogGenerator {
    rng: SplitMix64,
    streams: Vec<StreamSpec>,
    /// Cumulative weights for picking a stream.
    cumulative: Vec<u32>,
    total_bytes: u64,
    produced: u64,
    start_ns: i64,
    end_ns: i64,
    /// Pending lines of a stack trace: (stream, lines).
    pending: Vec<(usize, String)>,
    next_needle: u64,
    needles_left: u64,
    clients: Vec<String>,
    users: Vec<String>,
}

impl LogGenerator {
    pub fn new(
        streams: Vec<StreamSpec>,
        total_bytes: u64,
        start_ns: i64,
        end_ns: i64,
        seed: u64,
    ) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut acc = 0;
        let cumulative = streams
            .iter()
            .map(|s| {
                acc += s.weight;
                acc
            })
            .collect();
        let clients = (0..3000)
            .map(|_| {
                format!(
                    "{}.{}.{}.{}",
                    [10, 172, 192, 84, 203][rng.below(5)],
                    rng.below(256),
                    rng.below(256),
                    1 + rng.below(254)
                )
            })
            .collect();
        let users = (0..20_000)
            .map(|i| format!("u{:06}", i * 37 % 999_983))
            .collect();
        Self {
            rng,
            streams,
            cumulative,
            total_bytes,
            produced: 0,
            start_ns,
            end_ns,
            pending: Vec::new(),
            next_needle: total_bytes / NEEDLE_LINES / 2,
            needles_left: NEEDLE_LINES,
            clients,
            users,
        }
    }

    pub fn streams(&self) -> &[StreamSpec] {
        &self.streams
    }

    fn ts(&self) -> i64 {
        let span = (self.end_ns - self.start_ns) as f64;
        let frac = self.produced as f64 / self.total_bytes.max(1) as f64;
        self.start_ns + (span * frac.min(1.0)) as i64
    }

    /// A popularity-skewed index below `n` (small indexes far more often).
    fn skewed(&mut self, n: usize) -> usize {
        let f = self.rng.next_f64();
        ((f * f * f) * n as f64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.below(items.len())]
    }

    /// A latency in ms with a long tail.
    fn latency_ms(&mut self) -> u64 {
        let f = self.rng.next_f64();
        (2.0 + 8.0 / (1.0 - f * 0.995)) as u64
    }

    fn trace_id(&mut self, needle: bool) -> String {
        if needle {
            NEEDLE.to_string()
        } else {
            self.rng.hex(32)
        }
    }

    fn next_line(&mut self) -> Option<Line> {
        if self.produced >= self.total_bytes {
            return None;
        }
        let ts_ns = self.ts();
        let (stream, text) = if let Some((s, text)) = self.pending.pop() {
            (s, text)
        } else {
            let needle = self.needles_left > 0 && self.produced >= self.next_needle;
            let total = *self.cumulative.last().unwrap_or(&1);
            let r = self.rng.below(total as usize) as u32;
            let mut s = self.cumulative.partition_point(|&c| c <= r);
            if needle {
                // The needle goes into a trace-carrying line.
                while !matches!(self.streams[s].kind, Kind::Json | Kind::Access) {
                    s = (s + 1) % self.streams.len();
                }
                self.needles_left -= 1;
                self.next_needle += self.total_bytes / NEEDLE_LINES;
            }
            let text = match self.streams[s].kind {
                Kind::Access => self.access(ts_ns, needle),
                Kind::Json => self.json(ts_ns, needle),
                Kind::Logfmt => self.logfmt(ts_ns),
                Kind::Java => self.java(s, ts_ns),
                Kind::Kubelet => self.kubelet(ts_ns),
            };
            (s, text)
        };
        self.produced += text.len() as u64 + 1;
        Some(Line {
            stream,
            ts_ns,
            text,
        })
    }

    fn access(&mut self, ts_ns: i64, needle: bool) -> String {
        const PATHS: &[&str] = &[
            "/api/v1/products",
            "/api/v1/cart",
            "/api/v1/checkout",
            "/api/v1/users/me",
            "/healthz",
            "/static/js/app.7f3c2d.js",
            "/static/css/main.b81e.css",
            "/api/v1/search",
            "/login",
            "/api/v1/orders",
        ];
        const AGENTS: &[&str] = &[
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "kube-probe/1.29",
            "okhttp/4.12.0",
            "curl/8.5.0",
        ];
        let client = self.skewed(self.clients.len());
        let ip = self.clients[client].clone();
        let method = self.pick(&["GET", "GET", "GET", "GET", "POST", "PUT", "DELETE"]);
        let path = self.pick(PATHS);
        let mut target = path.to_string();
        if path.ends_with("products") || path.ends_with("orders") {
            let _ = write!(target, "/{}", self.skewed(50_000));
        } else if path.ends_with("search") {
            let q = self.pick(&["shoes", "red+dress", "laptop", "usb-c+cable", "coffee"]);
            let _ = write!(target, "?q={q}&page={}", 1 + self.skewed(5));
        }
        let status = [
            200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 404, 499, 500, 502,
        ][self.rng.below(15)];
        let bytes = if status == 204 || status == 304 {
            0
        } else {
            200 + self.skewed(60_000)
        };
        let agent = self.pick(AGENTS);
        let secs = ts_ns.div_euclid(1_000_000_000);
        let request_time = self.latency_ms();
        let upstream = format!(
            "10.42.{}.{}:8080",
            self.rng.below(8),
            2 + self.rng.below(60)
        );
        let req_id = self.trace_id(needle);
        format!(
            "{ip} - - [{}] \"{method} {target} HTTP/1.1\" {status} {bytes} \"https://shop.example.com/\" \"{agent}\" {} {}.{:03} [shop-frontend-80] [] {upstream} {bytes} {}.{:03} {status} {req_id}",
            clf_time(secs),
            300 + self.rng.below(900),
            request_time / 1000,
            request_time % 1000,
            request_time / 1000,
            request_time % 1000,
        )
    }

    fn json(&mut self, ts_ns: i64, needle: bool) -> String {
        const MSGS: &[(&str, &str)] = &[
            ("info", "request completed"),
            ("info", "request completed"),
            ("info", "request completed"),
            ("info", "cart updated"),
            ("info", "payment authorized"),
            ("debug", "cache hit"),
            ("debug", "cache miss, loading from database"),
            ("warn", "slow query detected"),
            ("warn", "retrying upstream call"),
            ("error", "upstream returned an error"),
            ("error", "context deadline exceeded"),
        ];
        let (level, msg) = MSGS[self.rng.below(MSGS.len())];
        let caller = self.pick(&[
            "handler/checkout.go:142",
            "handler/cart.go:88",
            "store/postgres.go:311",
            "client/http.go:57",
            "middleware/log.go:33",
        ]);
        let user = self.skewed(self.users.len());
        let trace = self.trace_id(needle);
        let span = self.rng.hex(16);
        let latency = self.latency_ms();
        let mut line = format!(
            "{{\"level\":\"{level}\",\"ts\":\"{}\",\"caller\":\"{caller}\",\"msg\":\"{msg}\",\"trace_id\":\"{trace}\",\"span_id\":\"{span}\",\"user_id\":\"{}\",\"duration_ms\":{latency}",
            rfc3339_millis(ts_ns),
            self.users[user]
        );
        if level == "error" {
            let _ = write!(
                line,
                ",\"error\":\"dial tcp 10.43.{}.{}:5432: i/o timeout\"",
                self.rng.below(4),
                self.rng.below(200)
            );
        } else if msg == "payment authorized" {
            let _ = write!(
                line,
                ",\"amount\":{}.{:02},\"currency\":\"EUR\"",
                1 + self.skewed(500),
                self.rng.below(100)
            );
        }
        line.push('}');
        line
    }

    fn logfmt(&mut self, ts_ns: i64) -> String {
        const MSGS: &[(&str, &str)] = &[
            ("info", "batch flushed"),
            ("info", "batch flushed"),
            ("info", "document indexed"),
            ("info", "token refreshed"),
            ("debug", "lease renewed"),
            ("warn", "queue depth above threshold"),
            ("error", "failed to commit offset"),
        ];
        let (level, msg) = MSGS[self.rng.below(MSGS.len())];
        let component = self.pick(&["ingest", "writer", "scheduler", "session"]);
        format!(
            "ts={} level={level} component={component} msg=\"{msg}\" partition={} offset={} took={}ms records={}",
            rfc3339_millis(ts_ns),
            self.rng.below(32),
            ts_ns / 1_000_000 % 100_000_000,
            self.latency_ms(),
            self.skewed(5000)
        )
    }

    fn java(&mut self, stream: usize, ts_ns: i64) -> String {
        let thread = format!("http-nio-8080-exec-{}", 1 + self.rng.below(20));
        let time = rfc3339_millis(ts_ns);
        let time = time.trim_end_matches('Z').replace('T', " ");
        if self.rng.below(40) == 0 {
            // An exception: the error line now, its stack trace next.
            let (exc, cause) = self.pick2();
            let frames = [
                "\tat com.example.orders.repository.OrderRepository.findById(OrderRepository.java:87)",
                "\tat com.example.orders.service.OrderService.load(OrderService.java:142)",
                "\tat com.example.orders.web.OrderController.get(OrderController.java:55)",
                "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)",
                "\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)",
                "\tat org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
                "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
            ];
            let mut trace: Vec<String> = vec![format!("{exc}: {cause}")];
            trace.extend(frames.iter().map(|f| f.to_string()));
            trace.push(format!(
                "Caused by: java.net.SocketTimeoutException: Read timed out after {}ms",
                self.latency_ms() * 10
            ));
            trace.push("\t... 42 common frames omitted".to_string());
            // Popped from the end: push in reverse.
            for l in trace.into_iter().rev() {
                self.pending.push((stream, l));
            }
            return format!(
                "{time} ERROR 1 --- [{thread}] c.e.orders.web.OrderController : Request failed for order {}",
                self.skewed(50_000)
            );
        }
        let (level, logger, msg) = [
            ("INFO", "c.e.orders.service.OrderService", "Order processed"),
            ("INFO", "c.e.orders.service.OrderService", "Order processed"),
            (
                "DEBUG",
                "o.h.SQL",
                "select o1_0.id,o1_0.status from orders o1_0 where o1_0.id=?",
            ),
            ("INFO", "c.e.orders.client.StockClient", "Stock reserved"),
            (
                "WARN",
                "c.e.orders.client.StockClient",
                "Stock service slow, falling back to cache",
            ),
        ][self.rng.below(5)];
        format!(
            "{time}  {level} 1 --- [{thread}] {logger} : {msg} id={} in {}ms",
            self.skewed(50_000),
            self.latency_ms()
        )
    }

    fn pick2(&mut self) -> (&'static str, &'static str) {
        [
            (
                "org.springframework.dao.QueryTimeoutException",
                "PreparedStatementCallback; SQL [select * from orders where id = ?]; timeout",
            ),
            (
                "java.lang.IllegalStateException",
                "Order is not in a payable state",
            ),
            (
                "java.lang.NullPointerException",
                "Cannot invoke \"com.example.orders.model.Customer.getAddress()\" because \"customer\" is null",
            ),
        ][self.rng.below(3)]
    }

    fn kubelet(&mut self, ts_ns: i64) -> String {
        let secs = ts_ns.div_euclid(1_000_000_000);
        let micros = ts_ns.rem_euclid(1_000_000_000) / 1000;
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        let (mo, d) = month_day(secs);
        let ns = self.pick(&["shop", "payments", "orders", "search", "auth"]);
        let pod = format!(
            "{}-{}",
            self.pick(&["api", "worker", "frontend"]),
            self.rng.hex(5)
        );
        let uid = format!(
            "{}-{}-{}-{}-{}",
            self.rng.hex(8),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(12)
        );
        let body = match self.rng.below(5) {
            0 => format!("kubelet.go:2432] \"SyncLoop (PLEG): event for pod\" pod=\"{ns}/{pod}\" event={{\"ID\":\"{uid}\",\"Type\":\"ContainerStarted\"}}"),
            1 => format!("prober.go:107] \"Probe failed\" probeType=\"Readiness\" pod=\"{ns}/{pod}\" podUID=\"{uid}\" containerName=\"app\" probeResult=\"failure\" output=\"Get \\\"http://10.42.{}.{}:8080/ready\\\": context deadline exceeded\"", self.rng.below(8), self.rng.below(250)),
            2 => format!("kubelet.go:2440] \"SyncLoop UPDATE\" source=\"api\" pods=[\"{ns}/{pod}\"]"),
            3 => format!("reconciler_common.go:258] \"operationExecutor.VerifyControllerAttachedVolume started for volume \\\"kube-api-access-{}\\\"\" pod=\"{ns}/{pod}\"", self.rng.hex(5)),
            _ => format!("kuberuntime_manager.go:1021] \"Container definition changed, will be restarted\" pod=\"{ns}/{pod}\" containerName=\"app\""),
        };
        let severity = if body.contains("Probe failed") {
            'W'
        } else {
            'I'
        };
        format!(
            "{severity}{mo:02}{d:02} {h:02}:{m:02}:{s:02}.{micros:06}    {} {body}",
            2000 + self.rng.below(200)
        )
    }
}

impl Iterator for LogGenerator {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        self.next_line()
    }
}

/// Civil date of a Unix day number (Howard Hinnant's days-from-civil inverse).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn month_day(secs: i64) -> (u32, u32) {
    let (_, m, d) = civil(secs.div_euclid(86_400));
    (m, d)
}

/// `2026-11-22T06:01:02.345Z`.
pub fn rfc3339_millis(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let millis = ts_ns.rem_euclid(1_000_000_000) / 1_000_000;
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let day = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

/// `22/Nov/2026:06:01:02 +0000`.
fn clf_time(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let day = secs.rem_euclid(86_400);
    format!(
        "{d:02}/{}/{y:04}:{:02}:{:02}:{:02} +0000",
        MONTHS[(mo - 1) as usize],
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(bytes: u64, seed: u64) -> Vec<Line> {
        let start = 1_795_000_000_000_000_000;
        LogGenerator::new(
            streams(2, 3, seed),
            bytes,
            start,
            start + 3_600_000_000_000,
            seed,
        )
        .collect()
    }

    #[test]
    fn deterministic_time_ordered_and_sized() {
        let a = generate(2_000_000, 7);
        let b = generate(2_000_000, 7);
        assert_eq!(a.len(), b.len());
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.text == y.text && x.ts_ns == y.ts_ns));
        assert!(a.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        let bytes: u64 = a.iter().map(|l| l.text.len() as u64 + 1).sum();
        assert!((2_000_000..2_010_000).contains(&bytes), "{bytes}");
        assert_ne!(a[10].text, generate(2_000_000, 8)[10].text);
        assert!(a.iter().all(|l| !l.text.contains('\n')));
    }

    #[test]
    fn needle_planted_exactly() {
        let lines = generate(5_000_000, 1);
        let hits = lines.iter().filter(|l| l.text.contains(NEEDLE)).count() as u64;
        assert_eq!(hits, NEEDLE_LINES);
        // Every kind of line is present.
        let kinds = streams(2, 3, 1);
        for kind in [
            Kind::Access,
            Kind::Json,
            Kind::Logfmt,
            Kind::Java,
            Kind::Kubelet,
        ] {
            assert!(
                lines.iter().any(|l| kinds[l.stream].kind == kind),
                "{kind:?}"
            );
        }
        assert!(lines.iter().any(|l| l.text.starts_with("\tat com.example")));
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_795_000_000_123_000_000),
            "2026-11-18T11:06:40.123Z"
        );
        assert_eq!(clf_time(1_795_000_000), "18/Nov/2026:11:06:40 +0000");
        assert_eq!(month_day(951_782_400), (2, 29));
    }
}
