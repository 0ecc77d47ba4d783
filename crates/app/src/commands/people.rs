//! Provisioning for operators and scripts: `company create`, `user add`, `user list`.

use crate::settings::Settings;
use std::io::Read;
use std::process::ExitCode;
use ticketflower_store::{NewUser, Permission, StoreError, passwords};

pub async fn create_company(settings: &Settings, name: &str) -> anyhow::Result<ExitCode> {
    let store = settings.connect().await?;
    match store.create_company(name).await {
        Ok(id) => {
            println!("created company \"{}\" (id {id})", name.trim());
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => report(error),
    }
}

pub struct AddUser {
    pub company: String,
    pub email: String,
    pub name: Option<String>,
    pub permissions: Vec<String>,
    pub roles: Vec<String>,
}

/// Adds a user; the password is read from standard input (first line), never from arguments.
pub async fn add_user(settings: &Settings, args: AddUser) -> anyhow::Result<ExitCode> {
    let mut permissions = Vec::new();
    for name in &args.permissions {
        match Permission::parse(name) {
            Some(permission) => permissions.push(permission),
            None => {
                let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                eprintln!("error: unknown permission \"{name}\"; use one of {}", known.join(", "));
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let password = input.lines().next().unwrap_or_default();
    let password_hash = match passwords::hash(password) {
        Ok(hash) => hash,
        Err(error) => return report(error),
    };
    let store = settings.connect().await?;
    let Some(company) = store.company_by_name(&args.company).await? else {
        eprintln!(
            "error: there is no company named \"{}\"; create it with `ticketflower company create`",
            args.company
        );
        return Ok(ExitCode::FAILURE);
    };
    let user = NewUser {
        email: args.email.clone(),
        display_name: args.name.unwrap_or_default(),
        password_hash,
        permissions,
        roles: args.roles,
    };
    match store.add_user(company, user).await {
        Ok(id) => {
            println!("added {} to \"{}\" (id {id})", args.email.trim().to_lowercase(), args.company);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => report(error),
    }
}

pub async fn list_users(settings: &Settings, company: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = settings.connect().await?;
    let Some(company_id) = store.company_by_name(company).await? else {
        eprintln!("error: there is no company named \"{company}\"");
        return Ok(ExitCode::FAILURE);
    };
    let users = store.list_users(company_id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&users)?);
        return Ok(ExitCode::SUCCESS);
    }
    for user in users {
        let permissions = if user.permissions.is_empty() { "-".to_owned() } else { user.permissions.join(",") };
        let roles = if user.roles.is_empty() { "-".to_owned() } else { user.roles.join(",") };
        println!("{}\t{}\tpermissions: {permissions}\troles: {roles}", user.email, user.display_name);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a refusal the operator can act on.
fn report(error: StoreError) -> anyhow::Result<ExitCode> {
    match error {
        StoreError::Invalid(problems) => {
            for problem in problems {
                eprintln!("error: {}", problem.message);
            }
            Ok(ExitCode::FAILURE)
        }
        StoreError::Conflict(message) => {
            eprintln!("error: {message}");
            Ok(ExitCode::FAILURE)
        }
        other => Err(other.into()),
    }
}
