//! Tickets: creating one starts its workflow instance (SPEC §2.3 rule 1).

use crate::committer::{Command, CommandOutcome};
use crate::{CompanyId, InstanceId, Result, Store, StoreError, TicketId, UserId};
use serde_json::Value;
use ticketflower_core::engine::InstanceStatus;

/// A ticket to create.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// Key of the workflow definition whose active version the ticket starts.
    pub definition: String,
    pub ticket_type: String,
    pub fields: Value,
    pub creator: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TicketCreated {
    pub ticket: TicketId,
    pub instance: InstanceId,
    pub status: InstanceStatus,
    pub activated: Vec<String>,
    pub new_runs: Vec<crate::RunId>,
    /// Whom each run activated was assigned to, in the same order.
    pub assignees: Vec<Option<UserId>>,
    pub faults: Vec<String>,
}

impl Store {
    /// Validates the ticket against its type's fields and starts its instance. Invalid
    /// data returns every problem and creates nothing.
    pub async fn create_ticket(&self, company: CompanyId, ticket: NewTicket) -> Result<TicketCreated> {
        let NewTicket { definition, ticket_type, fields, creator } = ticket;
        let CommandOutcome { ticket, instance, status, activated, new_runs, assignees, faults } =
            self.execute(Command::Start { company, definition, ticket_type, fields, creator }).await?;
        let ticket = ticket.ok_or(StoreError::Corrupt("a started ticket has no id".into()))?;
        Ok(TicketCreated { ticket, instance, status, activated, new_runs, assignees, faults })
    }
}
