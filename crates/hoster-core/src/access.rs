//! Who may do what: roles, the operations each allows, and ownership. Pure; the shell finds
//! out who is calling (a token, or nobody in local mode) and asks here.

use std::fmt;

use crate::problem::Problem;

/// Whom a creator id, customer id or token names in the operator's identity system: 1 to 100
/// printable characters, no spaces (`a-z A-Z 0-9 - _ . @`). Requests are checked with
/// [`Subject::check`], so every field that names one accepts the same set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject(String);

impl Subject {
    pub fn parse(text: &str) -> Option<Subject> {
        let ok = (1..=100).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
        ok.then(|| Subject(text.to_string()))
    }

    /// [`Subject::parse`], or a problem for `field` added to `problems`.
    pub fn check(problems: &mut Vec<Problem>, field: &str, text: &str) -> Option<Subject> {
        let subject = Subject::parse(text);
        if subject.is_none() {
            problems.push(Problem::field(
                field,
                "must be 1 to 100 characters of a-z, A-Z, 0-9, `-`, `_`, `.`, `@`",
            ));
        }
        subject
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a token is for. An admin runs the platform; a creator publishes templates; a customer
/// deploys them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Admin,
    Creator,
    Customer,
    /// Reads `/metrics` and nothing else: for a Prometheus server's scrape token.
    Metrics,
}

crate::problem::try_from_text!(Role, "role");

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Creator, Role::Customer, Role::Metrics];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Creator => "creator",
            Role::Customer => "customer",
            Role::Metrics => "metrics",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every operation the API offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListTemplates,
    GetTemplate,
    CreateTemplate,
    UpdateTemplate,
    DeleteTemplate,
    PublishTemplate,
    TrustTemplate,
    ListDeployments,
    GetDeployment,
    CreateDeployment,
    StartDeployment,
    StopDeployment,
    DeleteDeployment,
    /// Read or change a deployment's variable values.
    ConfigureDeployment,
    ManageDomains,
    ManageTokens,
    ReadAudit,
    ReadMetrics,
    /// What deployments cost (a customer: its own).
    ReadUsage,
    /// What a creator's templates earned (a creator: its own).
    ReadEarnings,
}

/// Whether `role` may attempt `op` at all; ownership is checked separately.
pub fn permits(role: Role, op: Operation) -> bool {
    use Operation::*;
    match role {
        Role::Admin => true,
        Role::Creator => matches!(
            op,
            ListTemplates
                | GetTemplate
                | CreateTemplate
                | UpdateTemplate
                | DeleteTemplate
                | PublishTemplate
                | ReadEarnings
        ),
        Role::Customer => matches!(
            op,
            ListTemplates
                | GetTemplate
                | ListDeployments
                | GetDeployment
                | CreateDeployment
                | StartDeployment
                | StopDeployment
                | DeleteDeployment
                | ConfigureDeployment
                | ManageDomains
                | ReadUsage
        ),
        Role::Metrics => op == ReadMetrics,
    }
}

/// API tokens: `hoster_` and 52 base32 characters carrying 256 random bits.
pub mod token {
    pub const PREFIX: &str = "hoster_";
    pub const RANDOM_BYTES: usize = 32;
    const LEN: usize = 52;

    pub fn format(bytes: [u8; RANDOM_BYTES]) -> String {
        format!("{PREFIX}{}", crate::id::base32(&bytes))
    }

    /// Whether `s` has a token's shape; anything else is refused without a lookup.
    pub fn well_formed(s: &str) -> bool {
        s.strip_prefix(PREFIX)
            .is_some_and(|rest| rest.len() == LEN && rest.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')))
    }
}

/// The caller of an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Local mode: no credentials, full powers, subjects named in each request.
    Local,
    /// A token's holder.
    Token { role: Role, subject: String },
}

/// The filter a template list applies for a caller: `published` as asked (or forced), and
/// `visible_to` a creator, who also sees their own unpublished ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateListing<'a> {
    pub published: Option<bool>,
    pub visible_to: Option<&'a str>,
}

/// Why a request that names a subject is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotYours {
    pub field: &'static str,
    pub named: String,
}

impl Caller {
    fn role(&self) -> Role {
        match self {
            Caller::Local => Role::Admin,
            Caller::Token { role, .. } => *role,
        }
    }

    pub fn permits(&self, op: Operation) -> bool {
        permits(self.role(), op)
    }

    /// The subject a creator or customer acts for: their own; admins and local callers act for
    /// whoever the request names. `Err` when a creator or customer names someone else.
    pub fn acting_for(&self, field: &'static str, named: Option<String>) -> Result<Option<String>, NotYours> {
        match (self, named) {
            (Caller::Token { role: Role::Admin, .. } | Caller::Local, named) => Ok(named),
            (Caller::Token { subject, .. }, None) => Ok(Some(subject.clone())),
            (Caller::Token { subject, .. }, Some(named)) if named == *subject => Ok(Some(named)),
            (Caller::Token { .. }, Some(named)) => Err(NotYours { field, named }),
        }
    }

    /// Whether the template is visible: its creator and admins see it, everyone sees it once
    /// published.
    pub fn sees_template(&self, creator_id: &str, published: bool) -> bool {
        published || self.owns_template(creator_id)
    }

    /// Whether the caller may change the template: its creator and admins.
    pub fn owns_template(&self, creator_id: &str) -> bool {
        match self {
            Caller::Local | Caller::Token { role: Role::Admin, .. } => true,
            Caller::Token { role, subject } => *role == Role::Creator && subject == creator_id,
        }
    }

    /// Whether the caller may see and operate the deployment: its customer and admins.
    pub fn owns_deployment(&self, customer_id: &str) -> bool {
        match self {
            Caller::Local | Caller::Token { role: Role::Admin, .. } => true,
            Caller::Token { role, subject } => *role == Role::Customer && subject == customer_id,
        }
    }

    /// Lists are limited to what the caller may see: `Some(subject)` for creators (their own
    /// or published templates) and customers (their own deployments), `None` for admins.
    pub fn scope(&self) -> Option<&str> {
        match self {
            Caller::Local | Caller::Token { role: Role::Admin, .. } => None,
            Caller::Token { subject, .. } => Some(subject),
        }
    }

    /// Which templates a list shows this caller, given the `published` filter it asked for:
    /// customers published ones only, creators their own and published ones, admins all.
    /// `None`: nothing can match (a customer asking for unpublished templates).
    pub fn template_listing(&self, published: Option<bool>) -> Option<TemplateListing<'_>> {
        match self {
            Caller::Token {
                role: Role::Customer, ..
            } => (published != Some(false)).then_some(TemplateListing {
                published: Some(true),
                visible_to: None,
            }),
            _ => Some(TemplateListing {
                published,
                visible_to: self.scope(),
            }),
        }
    }

    /// For the audit log: `local`, or `role:subject`.
    pub fn describe(&self) -> String {
        match self {
            Caller::Local => "local".into(),
            Caller::Token { role, subject } => format!("{role}:{subject}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(role: Role, subject: &str) -> Caller {
        Caller::Token {
            role,
            subject: subject.into(),
        }
    }

    #[test]
    fn roles_permit_their_operations_only() {
        use Operation::*;
        assert!(permits(Role::Creator, CreateTemplate));
        assert!(!permits(Role::Creator, CreateDeployment));
        assert!(!permits(Role::Creator, TrustTemplate));
        assert!(permits(Role::Customer, StartDeployment));
        assert!(!permits(Role::Customer, CreateTemplate));
        assert!(!permits(Role::Customer, ManageTokens));
        assert!(!permits(Role::Customer, ReadMetrics));
        assert!(permits(Role::Metrics, ReadMetrics));
        assert!(!permits(Role::Metrics, ListTemplates));
        assert!(!permits(Role::Metrics, GetDeployment));
        assert!(permits(Role::Admin, ManageTokens));
        assert!(Caller::Local.permits(ReadAudit));
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn creators_and_customers_act_only_for_themselves() {
        let alice = token(Role::Creator, "alice");
        assert_eq!(alice.acting_for("creator_id", None), Ok(Some("alice".into())));
        assert_eq!(
            alice.acting_for("creator_id", Some("alice".into())),
            Ok(Some("alice".into()))
        );
        assert_eq!(
            alice.acting_for("creator_id", Some("bob".into())),
            Err(NotYours {
                field: "creator_id",
                named: "bob".into()
            })
        );
        let admin = token(Role::Admin, "ops");
        assert_eq!(
            admin.acting_for("customer_id", Some("bob".into())),
            Ok(Some("bob".into()))
        );
        assert_eq!(Caller::Local.acting_for("customer_id", None), Ok(None));
    }

    #[test]
    fn tokens_carry_256_bits_and_are_recognised() {
        let t = token::format([0xff; token::RANDOM_BYTES]);
        assert!(t.starts_with("hoster_") && t.len() == 7 + 52, "{t}");
        assert!(token::well_formed(&t));
        assert_ne!(token::format([0; 32]), token::format([1; 32]));
        for bad in ["", "hoster_", "Bearer x", &t.to_uppercase(), &t[..t.len() - 1]] {
            assert!(!token::well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn template_listings_follow_the_role() {
        let token = |role| Caller::Token {
            role,
            subject: "s".into(),
        };
        let listing = |published, visible_to| Some(TemplateListing { published, visible_to });
        let customer = token(Role::Customer);
        assert_eq!(customer.template_listing(None), listing(Some(true), None));
        assert_eq!(customer.template_listing(Some(true)), listing(Some(true), None));
        assert_eq!(customer.template_listing(Some(false)), None);
        let creator = token(Role::Creator);
        assert_eq!(creator.template_listing(Some(false)), listing(Some(false), Some("s")));
        assert_eq!(token(Role::Admin).template_listing(None), listing(None, None));
        assert_eq!(Caller::Local.template_listing(Some(false)), listing(Some(false), None));
    }

    #[test]
    fn ownership() {
        let alice = token(Role::Creator, "alice");
        assert!(alice.owns_template("alice") && !alice.owns_template("bob"));
        assert!(alice.sees_template("bob", true) && !alice.sees_template("bob", false));
        let carol = token(Role::Customer, "carol");
        assert!(
            !carol.owns_template("carol"),
            "a customer owns no templates, whatever its name"
        );
        assert!(carol.owns_deployment("carol") && !carol.owns_deployment("dave"));
        assert!(!alice.owns_deployment("alice"));
        assert!(Caller::Local.owns_deployment("anyone") && Caller::Local.scope().is_none());
        assert_eq!(carol.scope(), Some("carol"));
        assert_eq!(carol.describe(), "customer:carol");
    }

    #[test]
    fn subjects_are_short_printable_names() {
        assert_eq!(
            Subject::parse("user-1@example.com").unwrap().as_str(),
            "user-1@example.com"
        );
        for bad in ["", "two words", "a/b", "ünïcode", &"x".repeat(101)] {
            assert!(Subject::parse(bad).is_none(), "{bad:?}");
        }
        let mut problems = Vec::new();
        assert!(Subject::check(&mut problems, "customer_id", "a b").is_none());
        assert_eq!(problems[0].field, "customer_id");
    }
}
