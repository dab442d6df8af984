//! The catalog, a template's page, and the deploy form generated from its variables.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use hoster_core::access::Operation;
use hoster_core::template::Variable;
use hoster_core::variables::Kind;

use super::session::{Form, Viewer};
use super::{Chrome, FieldErrors, Pager, Section, api_query, error_page, html, html_status, param, price, see_other};
use crate::api::catalog::{self as api_catalog, CatalogEntry, ServiceSummary};
use crate::api::deployments::{self as api_deployments, CreateDeployment};
use crate::api::extract::{Json, Path, Query};
use crate::api::templates::{self as api_templates, Template as TemplateView};
use crate::api::{ApiError, AppState};

#[derive(Template)]
#[template(path = "console/catalog.html")]
struct CatalogPage {
    chrome: Chrome,
    entries: Vec<CatalogEntry>,
    total: u64,
    q: String,
    category: String,
    tag: String,
    sort: String,
    categories: Vec<String>,
    tags: Vec<String>,
    pages: Pager,
}

pub async fn catalog(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.as_deref();
    let answer = match api_query(raw) {
        Ok(query) => api_catalog::catalog(State(state.clone()), Extension(viewer.caller.clone()), Query(query)).await,
        Err(e) => Err(e),
    };
    let list = match answer {
        Ok(axum::Json(list)) => list,
        Err(e) => return error_page(&viewer, e),
    };
    // The filters' choices, from every entry (the catalog is one page per product).
    let everything = api_query("limit=100".into()).map(Query);
    let (mut categories, mut tags) = (Vec::new(), Vec::new());
    if let Ok(query) = everything
        && let Ok(axum::Json(all)) = api_catalog::catalog(State(state), Extension(viewer.caller.clone()), query).await
    {
        for e in all.entries {
            categories.extend(e.category);
            tags.extend(e.tags);
        }
    }
    categories.sort();
    categories.dedup();
    tags.sort();
    tags.dedup();
    let pages = Pager::new("/ui/", raw, list.offset, list.limit, list.entries.len(), list.total);
    html(&CatalogPage {
        chrome: Chrome::new(&viewer, Section::Catalog, "Catalog"),
        total: list.total,
        entries: list.entries,
        q: param(raw, "q"),
        category: param(raw, "category"),
        tag: param(raw, "tag"),
        sort: param(raw, "sort"),
        categories,
        tags,
        pages,
    })
}

/// One input of the deploy form.
pub struct VariableField {
    /// The form field: `var.NAME`.
    pub input: String,
    pub name: String,
    pub description: String,
    /// `text`, `number`, `password` or `select`.
    pub control: &'static str,
    /// A select's choices, after the "default" choice.
    pub options: Vec<String>,
    pub value: String,
    pub required: bool,
    pub help: String,
    pub error: Option<String>,
}

fn variable_fields(variables: &[Variable], form: Option<&Form>, errors: &FieldErrors) -> Vec<VariableField> {
    variables
        .iter()
        .map(|v| {
            let secret = v.is_secret();
            let (control, options) = match v.kind {
                Kind::Enum => ("select", v.options.clone()),
                Kind::Boolean => ("select", vec!["true".into(), "false".into()]),
                Kind::Number => ("number", Vec::new()),
                _ if secret => ("password", Vec::new()),
                _ => ("text", Vec::new()),
            };
            let help = match (&v.default, secret, v.generates()) {
                (_, _, true) => "Generated for you when left empty.".to_string(),
                (Some(_), true, _) => "Has a default the template keeps secret.".to_string(),
                (Some(d), false, _) => format!("Default: {d}"),
                (None, _, _) if v.required => "Required.".to_string(),
                (None, _, _) => "Optional.".to_string(),
            };
            let input = format!("var.{}", v.name);
            VariableField {
                // A secret typed in is not sent back to the browser in the page.
                value: if secret {
                    String::new()
                } else {
                    form.and_then(|f| f.get(&input)).unwrap_or_default().to_string()
                },
                error: errors.get(&format!("variables.{}", v.name)).cloned(),
                required: v.required && v.default.is_none() && !v.generates(),
                input,
                name: v.name.clone(),
                description: v.description.clone(),
                control,
                options,
                help,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/template.html")]
struct TemplatePage {
    chrome: Chrome,
    template: TemplateView,
    services: Vec<ServiceSummary>,
    price: String,
    /// Deployable by this viewer: published, not deprecated, and they may create deployments.
    deployable: bool,
    /// Local mode and admins name the customer a deployment is for.
    names_customer: bool,
    fields: Vec<VariableField>,
    name: String,
    customer_id: String,
    errors: FieldErrors,
}

async fn template_page(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    form: Option<&Form>,
    error: Option<ApiError>,
) -> Response {
    let record = match api_templates::load(state, &viewer.caller, Operation::GetTemplate, id).await {
        Ok(r) => r,
        Err(e) => return error_page(viewer, e),
    };
    let services = api_catalog::services(&record, state);
    let template = TemplateView::from(record);
    let mut fields: Vec<String> = vec!["name".into(), "customer_id".into()];
    fields.extend(template.variables.iter().map(|v| format!("variables.{}", v.name)));
    let status = error.as_ref().map(ApiError::status);
    let errors = error.map(|e| FieldErrors::from(&e, &fields)).unwrap_or_default();
    let page = TemplatePage {
        chrome: Chrome::new(viewer, Section::Catalog, template.name.clone()),
        price: price(template.price_monthly),
        deployable: template.published
            && template.deprecation_message.is_none()
            && viewer.caller.permits(Operation::CreateDeployment),
        names_customer: viewer.caller.acting_for("customer_id", None).ok().flatten().is_none(),
        fields: variable_fields(&template.variables, form, &errors),
        name: form.and_then(|f| f.get("name")).unwrap_or_default().to_string(),
        customer_id: form
            .and_then(|f| f.get("customer_id"))
            .unwrap_or(match viewer.caller {
                hoster_core::access::Caller::Local => "local",
                _ => "",
            })
            .to_string(),
        services,
        template,
        errors,
    };
    html_status(status.unwrap_or(axum::http::StatusCode::OK), &page)
}

pub async fn template(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    template_page(&state, &viewer, &id, None, None).await
}

/// Creates the deployment from the form and starts it without waiting: its page shows the
/// start as it goes.
pub async fn deploy(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Form,
) -> Response {
    let declared = match api_templates::load(&state, &viewer.caller, Operation::GetTemplate, &id).await {
        Ok(r) => r.spec.variables,
        Err(e) => return error_page(&viewer, e),
    };
    let variables = declared
        .iter()
        .filter_map(|v| {
            form.text(&format!("var.{}", v.name))
                .map(|value| (v.name.clone(), serde_json::Value::String(value)))
        })
        .collect();
    let body = CreateDeployment {
        template_id: Some(id.clone()),
        customer_id: form.text("customer_id"),
        name: form.text("name"),
        variables,
        from_backup: None,
    };
    let created =
        api_deployments::create_deployment(State(state.clone()), Extension(viewer.caller.clone()), Json(body)).await;
    let d = match created {
        Ok((_, _, axum::Json(d))) => d,
        Err(e) => return template_page(&state, &viewer, &id, Some(&form), Some(e)).await,
    };
    let started = match api_query("wait=false".into()) {
        Ok(wait) => api_deployments::start_deployment(
            State(state),
            Extension(viewer.caller.clone()),
            Path(d.id.clone()),
            Query(wait),
        )
        .await
        .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = started {
        // The deployment exists: its page shows why it did not start.
        tracing::warn!(deployment = %d.id, error = %e.message, "a console deploy did not start");
    }
    see_other(&format!("/ui/deployments/{}", d.id), "deploying")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_follows_the_variables() {
        let v = |name: &str, kind, default: Option<&str>, required| Variable {
            name: name.into(),
            kind,
            default: default.map(str::to_string),
            required,
            options: if kind == Kind::Enum {
                vec!["a".into(), "b".into()]
            } else {
                vec![]
            },
            ..Variable::default()
        };
        let fields = variable_fields(
            &[
                v("TITLE", Kind::String, Some("Hi"), false),
                v("PORT", Kind::Number, None, true),
                v("MODE", Kind::Enum, Some("a"), false),
                v("DB_PASSWORD", Kind::Password, None, false),
            ],
            None,
            &FieldErrors::default(),
        );
        let controls: Vec<_> = fields.iter().map(|f| (f.control, f.required)).collect();
        assert_eq!(
            controls,
            [
                ("text", false),
                ("number", true),
                ("select", false),
                ("password", false)
            ]
        );
        assert_eq!(fields[0].help, "Default: Hi");
        assert_eq!(fields[2].options, ["a", "b"]);
        assert!(fields[3].help.contains("Generated"));
    }
}
