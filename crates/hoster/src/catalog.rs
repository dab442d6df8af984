//! The starter catalog shipped in the binary: templates of common self-hosted software that
//! follow the safe-compose policy and use variables (generated passwords, the deployment's
//! URL). `hoster catalog import` publishes them for a creator through the API.

/// The starters' files (`crates/hoster/catalog/`), in catalog order.
const STARTERS: [&str; 12] = [
    include_str!("../catalog/01-static-site.json"),
    include_str!("../catalog/02-postgresql.json"),
    include_str!("../catalog/03-mariadb.json"),
    include_str!("../catalog/04-redis.json"),
    include_str!("../catalog/05-wordpress.json"),
    include_str!("../catalog/06-ghost.json"),
    include_str!("../catalog/07-gitea.json"),
    include_str!("../catalog/08-uptime-kuma.json"),
    include_str!("../catalog/09-minio.json"),
    include_str!("../catalog/10-adminer.json"),
    include_str!("../catalog/11-n8n.json"),
    include_str!("../catalog/12-plausible.json"),
];

/// The starter templates as the API takes them, without a creator.
pub fn starters() -> Vec<serde_json::Value> {
    STARTERS
        .iter()
        .map(|text| serde_json::from_str(text).expect("the starters are checked by a unit test"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoster_core::template::{Limits, TemplateFields};

    #[test]
    fn every_starter_validates_under_the_safe_compose_policy_and_takes_its_variables() {
        let starters = starters();
        assert_eq!(starters.len(), 12);
        for starter in starters {
            let fields: TemplateFields = serde_json::from_value(starter).unwrap();
            let name = fields.name.clone().unwrap_or_default();
            let declared: Vec<String> = fields.variables.iter().flatten().map(|v| v.name.clone()).collect();
            let compose = fields.compose_spec.clone().unwrap_or_default();
            let fields = TemplateFields {
                creator_id: Some("starter".into()),
                ..fields
            };
            let (spec, _) = fields
                .validate(&Limits::default())
                .unwrap_or_else(|p| panic!("{name}: {p}"));
            assert!(
                !spec.description.is_empty() && spec.category.is_some() && !spec.tags.is_empty(),
                "{name}"
            );
            assert!(spec.price_monthly > 0, "{name} has a price");
            for variable in declared {
                assert!(
                    compose.contains(&format!("${{{variable}}}"))
                        || spec.config_files.iter().any(|f| f.content.contains(&variable)),
                    "{name} uses {variable}"
                );
            }
        }
    }
}
