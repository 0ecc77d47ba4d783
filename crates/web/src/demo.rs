//! The demo company created on the first start of an empty database: one user
//! per permission and per role of the example workflows, and the examples
//! activated. The workflow documents ship inside the binary.

use ticketflower_store::{NewUser, Permission, Store, passwords};

pub const COMPANY: &str = "Demo Company";

/// The example workflows, as (file name, YAML).
pub const EXAMPLES: &[(&str, &str)] = &[
    ("document-edit.yaml", include_str!("../../../examples/document-edit.yaml")),
    ("customer-support.yaml", include_str!("../../../examples/customer-support.yaml")),
    ("order-fulfilment.yaml", include_str!("../../../examples/order-fulfilment.yaml")),
    ("venue-map.yaml", include_str!("../../../examples/venue-map.yaml")),
];

/// (email, display name, permissions, roles)
const PEOPLE: &[(&str, &str, &[Permission], &[&str])] = &[
    (
        "owner@demo.test",
        "Olivia Owner",
        &[Permission::CompanyAdmin, Permission::WorkflowCreator, Permission::TicketAdmin],
        &[],
    ),
    ("creator@demo.test", "Wes Workflow", &[Permission::WorkflowCreator], &[]),
    ("desk@demo.test", "Tina Tickets", &[Permission::TicketAdmin], &[]),
    ("editor@demo.test", "Edith Editor", &[], &["editor"]),
    ("author@demo.test", "Arthur Author", &[], &["author"]),
    ("support@demo.test", "Sam Support", &[], &["support"]),
    ("specialist@demo.test", "Sofia Specialist", &[], &["specialist"]),
    ("lead@demo.test", "Lee Lead", &[], &["support_lead"]),
    ("manager@demo.test", "Maya Manager", &[], &["manager"]),
    ("warehouse@demo.test", "Walt Warehouse", &[], &["warehouse"]),
    ("digitizer@demo.test", "Dana Digitizer", &[], &["digitizer"]),
    ("data-entry@demo.test", "Eddie Entry", &[], &["data_entry"]),
    ("qa@demo.test", "Quinn QA", &[], &["qa"]),
];

/// A demo login, printed once at the first start.
#[derive(Clone)]
pub struct DemoLogin {
    pub email: String,
    pub password: String,
    pub what: String,
}

impl std::fmt::Debug for DemoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoLogin").field("email", &self.email).finish_non_exhaustive()
    }
}

/// Creates the demo company when the database has no company yet; returns
/// the logins it made (empty when the database was not empty).
pub async fn seed_if_empty(store: &Store) -> Result<Vec<DemoLogin>, ticketflower_store::StoreError> {
    if !store.has_no_companies().await? {
        return Ok(Vec::new());
    }
    seed(store, COMPANY).await
}

/// Creates a demo company named `name` with its users and active workflows.
pub async fn seed(store: &Store, name: &str) -> Result<Vec<DemoLogin>, ticketflower_store::StoreError> {
    let company = store.create_company(name).await?;
    let mut logins = Vec::new();
    let domain = if name == COMPANY { "demo.test".to_owned() } else { format!("{}.test", slug(name)) };
    for (email, display_name, permissions, roles) in PEOPLE {
        let email = email.replace("demo.test", &domain);
        // Four random words' worth of entropy, easy to type.
        let password = format!("demo-{}", crate::auth::random_token(6));
        let hash = tokio::task::spawn_blocking({
            let password = password.clone();
            move || passwords::hash(&password)
        })
        .await
        .map_err(|e| ticketflower_store::StoreError::Corrupt(e.to_string()))??;
        store
            .add_user(
                company,
                NewUser {
                    email: email.clone(),
                    display_name: (*display_name).to_owned(),
                    password_hash: hash,
                    permissions: permissions.to_vec(),
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                },
            )
            .await?;
        let mut what: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
        what.extend(roles.iter().copied());
        logins.push(DemoLogin { email, password, what: what.join(", ") });
    }
    for (file, text) in EXAMPLES {
        let syntax = ticketflower_core::document::Syntax::detect(Some(file), text);
        let document = ticketflower_core::document::parse(text, syntax)
            .map_err(|problem| ticketflower_store::StoreError::Invalid(vec![problem]))?;
        let imported = store.import_definition(company, &document, None).await?;
        store.activate_version(company, &imported.key, imported.version).await?;
    }
    Ok(logins)
}

fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}
