//! The creator studio: a creator's templates, the editor (compose with line numbers, config
//! files, variables) with every validation and policy problem shown where it is, publishing,
//! and new versions.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use hoster_core::access::{Caller, Operation};
use hoster_core::compose::locate;
use hoster_core::template::{ConfigFile, TemplateFields, Variable};
use hoster_core::variables::Kind;
use serde::Deserialize;

use super::session::{Form, Viewer};
use super::{Chrome, FieldErrors, Section, api_query, error_page, html, html_status, price, see_other, word};
use crate::api::extract::{Json, Path, Query};
use crate::api::templates::{self as api, NewVersion, Template as TemplateView};
use crate::api::{ApiError, AppState};

/// A row of the studio's list, as the templates API gives it.
#[derive(Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub version: String,
    pub published: bool,
    pub deprecation_message: Option<String>,
    pub price_monthly: i64,
}

#[derive(Deserialize)]
struct RowPage {
    templates: Vec<Row>,
    total: u64,
    limit: u32,
    offset: u64,
}

#[derive(Template)]
#[template(path = "console/studio.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    total: u64,
    pages: super::Pager,
}

/// Whose templates the studio shows: a creator's own (the subject their token acts for); all
/// of them for admins and local mode.
fn own(caller: &Caller) -> Option<String> {
    caller.acting_for("creator_id", None).ok().flatten()
}

pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let offset = super::param(raw.as_deref(), "offset");
    let mut query = format!("offset={offset}");
    if let Some(creator) = own(&viewer.caller) {
        query.push_str(&format!("&creator_id={}", super::session::urlencode(&creator)));
    }
    let answer = match api_query(Some(&query)) {
        Ok(q) => api::list_templates(State(state), Extension(viewer.caller.clone()), Query(q)).await,
        Err(e) => Err(e),
    };
    let body = match answer {
        Ok(response) => axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default(),
        Err(e) => return error_page(&viewer, e),
    };
    let Ok(page) = serde_json::from_slice::<RowPage>(&body) else {
        return error_page(
            &viewer,
            ApiError::internal("the template list did not read back", &"bad JSON"),
        );
    };
    html(&ListPage {
        chrome: Chrome::new(&viewer, Section::Studio, "Studio"),
        pages: super::Pager::new(
            "/ui/studio",
            raw.as_deref(),
            page.offset,
            page.limit,
            page.templates.len(),
            page.total,
        ),
        total: page.total,
        rows: page.templates,
    })
}

/// A problem in the compose document, at its line when it can be found.
pub struct LineProblem {
    pub line: Option<usize>,
    pub text: String,
}

pub struct FileRow {
    pub name: String,
    pub path: String,
    pub service: String,
    pub mode: String,
    pub content: String,
    pub interpolate: bool,
    pub errors: Vec<String>,
}

pub struct VarRow {
    pub name: String,
    pub kind: String,
    pub default: String,
    pub options: String,
    pub description: String,
    pub required: bool,
    pub secret: bool,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/editor.html")]
struct Editor {
    chrome: Chrome,
    /// `None` while creating.
    id: Option<String>,
    published: bool,
    deprecation: Option<String>,
    names_creator: bool,
    creator_id: String,
    name: String,
    version: String,
    description: String,
    category: String,
    tags: String,
    price: String,
    compose: String,
    /// The gutter's numbers, with whether a problem is on that line.
    gutter: Vec<(usize, bool)>,
    compose_problems: Vec<LineProblem>,
    files: Vec<FileRow>,
    vars: Vec<VarRow>,
    kinds: [&'static str; 5],
    errors: FieldErrors,
    versions: Vec<TemplateView>,
}

const KINDS: [&str; 5] = ["string", "number", "boolean", "enum", "password"];
/// Empty rows offered below the filled ones.
const SPARE_FILES: usize = 1;
const SPARE_VARIABLES: usize = 2;

impl Editor {
    fn blank(viewer: &Viewer) -> Self {
        Editor {
            chrome: Chrome::new(viewer, Section::Studio, "New template"),
            id: None,
            published: false,
            deprecation: None,
            names_creator: own(&viewer.caller).is_none(),
            creator_id: match &viewer.caller {
                Caller::Local => "local".into(),
                Caller::Token { subject, .. } => subject.clone(),
            },
            name: String::new(),
            version: "1.0.0".into(),
            description: String::new(),
            category: String::new(),
            tags: String::new(),
            price: "0.00".into(),
            compose: "services:\n  web:\n    image: nginx:alpine\n    ports:\n      - \"80\"\n".into(),
            gutter: Vec::new(),
            compose_problems: Vec::new(),
            files: Vec::new(),
            vars: Vec::new(),
            kinds: KINDS,
            errors: FieldErrors::default(),
            versions: Vec::new(),
        }
        .with_spares()
    }

    fn of(viewer: &Viewer, t: TemplateView, versions: Vec<TemplateView>) -> Self {
        Editor {
            chrome: Chrome::new(viewer, Section::Studio, format!("{} {}", t.name, t.version)),
            id: Some(t.id.clone()),
            published: t.published,
            deprecation: t.deprecation_message.clone(),
            names_creator: false,
            creator_id: t.creator_id.clone(),
            name: t.name.clone(),
            version: t.version.clone(),
            description: t.description.clone(),
            category: t.category.clone().unwrap_or_default(),
            tags: t.tags.join(", "),
            price: format!("{}.{:02}", t.price_monthly / 100, t.price_monthly % 100),
            compose: t.compose_spec.clone(),
            files: t
                .config_files
                .iter()
                .map(|f| FileRow {
                    name: f.name.clone(),
                    path: f.path.clone(),
                    service: f.service.clone().unwrap_or_default(),
                    mode: f.mode.clone().unwrap_or_default(),
                    content: f.content.clone(),
                    interpolate: f.interpolate,
                    errors: Vec::new(),
                })
                .collect(),
            vars: t
                .variables
                .iter()
                .map(|v| VarRow {
                    name: v.name.clone(),
                    kind: word(&v.kind),
                    default: v.default.clone().unwrap_or_default(),
                    options: v.options.join(", "),
                    description: v.description.clone(),
                    required: v.required,
                    secret: v.secret,
                    errors: Vec::new(),
                })
                .collect(),
            versions,
            ..Editor::blank(viewer)
        }
        .with_spares()
    }

    fn with_spares(mut self) -> Self {
        let blank_file = || FileRow {
            name: String::new(),
            path: String::new(),
            service: String::new(),
            mode: String::new(),
            content: String::new(),
            interpolate: false,
            errors: Vec::new(),
        };
        let blank_var = || VarRow {
            name: String::new(),
            kind: "string".into(),
            default: String::new(),
            options: String::new(),
            description: String::new(),
            required: false,
            secret: false,
            errors: Vec::new(),
        };
        self.files
            .retain(|f| !f.name.is_empty() || !f.path.is_empty() || !f.content.is_empty());
        self.vars.retain(|v| !v.name.is_empty());
        self.files.extend((0..SPARE_FILES).map(|_| blank_file()));
        self.vars.extend((0..SPARE_VARIABLES).map(|_| blank_var()));
        self.gutter = gutter(&self.compose, &self.compose_problems);
        self
    }

    /// The form as sent, to show again with its problems.
    fn refill(mut self, form: &Form) -> Self {
        let text = |k: &str| form.get(k).unwrap_or_default().to_string();
        self.name = text("name");
        self.version = text("version");
        self.description = text("description");
        self.category = text("category");
        self.tags = text("tags");
        self.price = text("price");
        self.compose = text("compose_spec");
        if self.names_creator {
            self.creator_id = text("creator_id");
        }
        self.files = (0..rows(form, "file")).map(|i| file_row(form, i)).collect();
        self.vars = (0..rows(form, "var")).map(|i| var_row(form, i)).collect();
        self
    }

    /// Puts each problem beside its input, or at its compose line.
    fn with_errors(mut self, e: &ApiError, files: &[usize], vars: &[usize]) -> Self {
        let fields: Vec<String> = [
            "name",
            "version",
            "description",
            "category",
            "tags",
            "price_monthly",
            "creator_id",
        ]
        .map(String::from)
        .to_vec();
        let mut errors = FieldErrors::from(e, &fields);
        let mut general = Vec::new();
        for p in std::mem::take(&mut errors.general) {
            general.push(p);
        }
        for p in &e.details {
            let row = |prefix: &str, sent: &[usize]| {
                let rest = p.field.strip_prefix(prefix)?;
                let (index, key) = rest.split_once("].")?;
                let index: usize = index.parse().ok()?;
                Some((*sent.get(index)?, key.to_string()))
            };
            if p.field == "compose_spec" {
                let path = p.path.clone().unwrap_or_default();
                self.compose_problems.push(LineProblem {
                    line: locate::line_of(&self.compose, &path, &p.message),
                    text: if path.is_empty() {
                        p.message.clone()
                    } else {
                        format!("{path}: {}", p.message)
                    },
                });
                general.retain(|g| *g != p.to_string());
            } else if let Some((i, key)) = row("config_files[", files) {
                if let Some(f) = self.files.get_mut(i) {
                    f.errors.push(format!("{key}: {}", p.message));
                    general.retain(|g| *g != p.to_string());
                }
            } else if let Some((i, key)) = row("variables[", vars) {
                if let Some(v) = self.vars.get_mut(i) {
                    v.errors.push(format!("{key}: {}", p.message));
                    general.retain(|g| *g != p.to_string());
                }
            }
        }
        errors.general = general;
        self.errors = errors;
        self.with_spares()
    }
}

fn gutter(compose: &str, problems: &[LineProblem]) -> Vec<(usize, bool)> {
    let lines = compose.lines().count().max(1);
    (1..=lines)
        .map(|n| (n, problems.iter().any(|p| p.line == Some(n))))
        .collect()
}

/// How many rows of `prefix` the form has (`file.0.name`, `file.1.name`, ...).
fn rows(form: &Form, prefix: &str) -> usize {
    form.0
        .iter()
        .filter_map(|(k, _)| {
            k.strip_prefix(prefix)?
                .strip_prefix('.')?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
        .min(200)
}

fn file_row(form: &Form, i: usize) -> FileRow {
    let text = |k: &str| form.get(&format!("file.{i}.{k}")).unwrap_or_default().to_string();
    FileRow {
        name: text("name"),
        path: text("path"),
        service: text("service"),
        mode: text("mode"),
        content: text("content"),
        interpolate: form.checked(&format!("file.{i}.interpolate")),
        errors: Vec::new(),
    }
}

fn var_row(form: &Form, i: usize) -> VarRow {
    let text = |k: &str| form.get(&format!("var.{i}.{k}")).unwrap_or_default().trim().to_string();
    VarRow {
        name: text("name"),
        kind: text("type"),
        default: text("default"),
        options: text("options"),
        description: text("description"),
        required: form.checked(&format!("var.{i}.required")),
        secret: form.checked(&format!("var.{i}.secret")),
        errors: Vec::new(),
    }
}

fn list_of(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `12.50` → 1250 cents; `None` when it is not an amount.
fn cents(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('$');
    if text.is_empty() {
        return Some(0);
    }
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 2 || !units.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let units: i64 = if units.is_empty() { 0 } else { units.parse().ok()? };
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    units.checked_mul(100)?.checked_add(fraction)
}

/// The request fields the form stands for, and which rows became which array entries.
struct Sent {
    fields: TemplateFields,
    files: Vec<usize>,
    vars: Vec<usize>,
}

/// The template the form describes. A variable keeps what the form does not edit (how it is
/// generated) from the stored one of the same name.
fn fields_of(form: &Form, stored: &[Variable], names_creator: bool) -> Result<Sent, ApiError> {
    let text = |k: &str| form.get(k).unwrap_or_default().to_string();
    let price_monthly = cents(&text("price")).ok_or_else(|| {
        ApiError::validation(hoster_core::problem::Problems(vec![
            hoster_core::problem::Problem::field("price_monthly", "must be an amount such as 12 or 12.50"),
        ]))
    })?;
    let mut files_sent = Vec::new();
    let config_files = (0..rows(form, "file"))
        .map(|i| (i, file_row(form, i)))
        .filter(|(_, f)| !(f.name.is_empty() && f.path.is_empty() && f.content.is_empty()))
        .map(|(i, f)| {
            files_sent.push(i);
            ConfigFile {
                name: f.name,
                path: f.path,
                content: f.content,
                mode: Some(f.mode).filter(|m| !m.is_empty()),
                service: Some(f.service).filter(|s| !s.is_empty()),
                interpolate: f.interpolate,
            }
        })
        .collect();
    let mut vars_sent = Vec::new();
    let variables = (0..rows(form, "var"))
        .map(|i| (i, var_row(form, i)))
        .filter(|(_, v)| !v.name.is_empty())
        .map(|(i, v)| {
            vars_sent.push(i);
            let kind = serde_json::from_value(serde_json::Value::String(v.kind.clone())).unwrap_or(Kind::String);
            let before = stored.iter().find(|s| s.name == v.name);
            Variable {
                name: v.name,
                description: v.description,
                kind,
                options: list_of(&v.options),
                default: Some(v.default).filter(|d| !d.is_empty()),
                required: v.required,
                secret: v.secret,
                generate: before.and_then(|b| b.generate),
            }
        })
        .collect();
    Ok(Sent {
        fields: TemplateFields {
            name: Some(text("name").trim().to_string()),
            version: Some(text("version").trim().to_string()),
            description: Some(text("description")),
            creator_id: form.text("creator_id").filter(|_| names_creator),
            compose_spec: Some(text("compose_spec")),
            config_files: Some(config_files),
            variables: Some(variables),
            price_monthly: Some(price_monthly),
            category: form.text("category"),
            tags: Some(list_of(&text("tags"))),
        },
        files: files_sent,
        vars: vars_sent,
    })
}

pub async fn new_page(Extension(viewer): Extension<Viewer>) -> Response {
    if !viewer.caller.permits(Operation::CreateTemplate) {
        return error_page(&viewer, ApiError::forbidden("this token may not manage templates"));
    }
    html(&Editor::blank(&viewer))
}

fn refused(editor: Editor, form: &Form, e: &ApiError, sent: Option<&Sent>) -> Response {
    let status = if e.status() == StatusCode::OK {
        StatusCode::BAD_REQUEST
    } else {
        e.status()
    };
    let (files, vars) = sent.map_or((Vec::new(), Vec::new()), |s| (s.files.clone(), s.vars.clone()));
    html_status(status, &editor.refill(form).with_errors(e, &files, &vars))
}

pub async fn create(State(state): State<AppState>, Extension(viewer): Extension<Viewer>, form: Form) -> Response {
    let editor = Editor::blank(&viewer);
    let sent = match fields_of(&form, &[], editor.names_creator) {
        Ok(s) => s,
        Err(e) => return refused(editor, &form, &e, None),
    };
    let trust = match api_query(None) {
        Ok(q) => q,
        Err(e) => return error_page(&viewer, e),
    };
    match api::create_template(
        State(state),
        Extension(viewer.caller.clone()),
        Query(trust),
        Json(sent.fields.clone()),
    )
    .await
    {
        Ok((_, _, axum::Json(t))) => see_other(&format!("/ui/studio/{}", t.id), "created"),
        Err(e) => refused(editor, &form, &e, Some(&sent)),
    }
}

async fn load(state: &AppState, viewer: &Viewer, id: &str) -> Result<Editor, ApiError> {
    let axum::Json(t) = api::get_template(
        State(state.clone()),
        Extension(viewer.caller.clone()),
        Path(id.to_string()),
    )
    .await?;
    let axum::Json(versions) = api::list_versions(
        State(state.clone()),
        Extension(viewer.caller.clone()),
        Path(id.to_string()),
    )
    .await?;
    if !viewer.caller.owns_template(&t.creator_id) {
        return Err(ApiError::forbidden("only its creator edits a template"));
    }
    Ok(Editor::of(viewer, t, versions.versions))
}

pub async fn edit_page(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match load(&state, &viewer, &id).await {
        Ok(editor) => html(&editor),
        Err(e) => error_page(&viewer, e),
    }
}

pub async fn save(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Form,
) -> Response {
    let editor = match load(&state, &viewer, &id).await {
        Ok(e) => e,
        Err(e) => return error_page(&viewer, e),
    };
    let stored = match api::load(&state, &viewer.caller, Operation::GetTemplate, &id).await {
        Ok(t) => t.spec.variables,
        Err(e) => return error_page(&viewer, e),
    };
    let sent = match fields_of(&form, &stored, false) {
        Ok(s) => s,
        Err(e) => return refused(editor, &form, &e, None),
    };
    let trust = match api_query(None) {
        Ok(q) => q,
        Err(e) => return error_page(&viewer, e),
    };
    let answer = api::update_template(
        State(state),
        Extension(viewer.caller.clone()),
        Path(id.clone()),
        Query(trust),
        Json(sent.fields.clone()),
    )
    .await;
    match answer {
        Ok(_) => see_other(&format!("/ui/studio/{id}"), "saved"),
        Err(e) => refused(editor, &form, &e, Some(&sent)),
    }
}

pub async fn publish(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    _form: Form,
) -> Response {
    match api::publish_template(State(state), Extension(viewer.caller.clone()), Path(id.clone())).await {
        Ok(_) => see_other(&format!("/ui/studio/{id}"), "published"),
        Err(e) => error_page(&viewer, e),
    }
}

pub async fn new_version(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Form,
) -> Response {
    let body = NewVersion {
        version: form.text("version"),
    };
    match api::create_version(State(state), Extension(viewer.caller.clone()), Path(id), Json(body)).await {
        Ok((_, _, axum::Json(t))) => see_other(&format!("/ui/studio/{}", t.id), "version"),
        Err(e) => error_page(&viewer, e),
    }
}

/// Shown on the list: `Free` or the monthly price.
impl Row {
    pub fn price(&self) -> String {
        price(self.price_monthly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_typed_as_money() {
        assert_eq!(cents("12.50"), Some(1250));
        assert_eq!(cents("$3"), Some(300));
        assert_eq!(cents("0.5"), Some(50));
        assert_eq!(cents(""), Some(0));
        for wrong in ["1.234", "-1", "abc", "1,5"] {
            assert_eq!(cents(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn rows_are_read_back_with_their_indexes() {
        let form = Form(
            [
                ("var.0.name", "A"),
                ("var.0.type", "number"),
                ("var.1.name", ""),
                ("var.2.name", "C"),
                ("var.2.required", "on"),
                ("price", "1"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
        );
        assert_eq!(rows(&form, "var"), 3);
        let stored = [Variable {
            name: "C".into(),
            generate: Some(hoster_core::variables::Generate::default()),
            ..Variable::default()
        }];
        let sent = fields_of(&form, &stored, false).unwrap();
        let vars = sent.fields.variables.unwrap();
        assert_eq!(vars.len(), 2);
        assert_eq!(vars[0].kind, Kind::Number);
        assert!(vars[1].required && vars[1].generate.is_some());
        // The API's `variables[1]` is the form's third row.
        assert_eq!(sent.vars, [0, 2]);
    }
}
