//! Query strings and GitHub-style pagination: `per_page` (default 30, at most 100), `page`
//! (default 1), and a `Link` header with absolute URLs that keep every other query parameter,
//! in GitHub's order `prev`, `next`, `last`, `first`.

/// A parsed query string that keeps the raw text, so `Link` URLs can repeat the other
/// parameters exactly as the client sent them.
pub struct Query {
    raw: String,
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k, true), percent_decode(v, true))
            })
            .collect();
        Query {
            raw: raw.to_string(),
            pairs,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// Decodes `%XX` escapes (and `+` as space in query strings). Malformed escapes are kept as
/// they are rather than rejected, as lenient servers do.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The slice of a list one page covers, and the `Link` header for it.
pub struct Page {
    pub start: usize,
    pub end: usize,
    pub link: Option<String>,
}

/// Works out the page a request asks for over `total` items. `url_path` is the request path
/// (used to build absolute `Link` URLs on this server).
pub fn paginate(total: usize, base_url: &str, url_path: &str, query: &Query) -> Page {
    let per_page = match query.get("per_page").and_then(|v| v.parse::<usize>().ok()) {
        Some(0) | None => 30,
        Some(n) => n.min(100),
    };
    let page = match query.get("page").and_then(|v| v.parse::<usize>().ok()) {
        Some(0) | None => 1,
        Some(n) => n,
    };
    let last = total.div_ceil(per_page).max(1);
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = start.saturating_add(per_page).min(total);

    let url_for = |p: usize| {
        let mut params: Vec<&str> = query
            .raw()
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("page="))
            .collect();
        let page_param = format!("page={p}");
        params.push(&page_param);
        format!("<{base_url}{url_path}?{}>", params.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url_for(page - 1)));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", url_for(page + 1)));
        links.push(format!("{}; rel=\"last\"", url_for(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", url_for(1)));
    }
    Page {
        start,
        end,
        link: (!links.is_empty()).then(|| links.join(", ")),
    }
}
