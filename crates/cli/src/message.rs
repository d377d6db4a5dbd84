//! `pregon message …`: single and scheduled messages (`/api/v1/messages`).

use std::io::Write;

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::client::{Client, ClientError};
use crate::render::format_time;
use crate::ClientArgs;

/// Single-message commands.
#[derive(clap::Subcommand, Debug)]
pub enum MessageCommand {
    /// List single messages: newest first, or (`--scheduled`) those waiting for their send
    /// time, soonest first.
    List {
        /// Only messages waiting for their `send_at`.
        #[arg(long)]
        scheduled: bool,
        /// Only messages in this state (queued, sent, delivered, read, failed, cancelled, …).
        #[arg(long)]
        status: Option<String>,
        /// Maximum number of messages to show (1–200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send one templated message, now or at `--at`.
    Send {
        /// The recipient, E.164 (e.g. +584121234567).
        to: String,
        /// Template id.
        #[arg(long)]
        template: String,
        /// A template variable, `NAME=VALUE`; repeat for each.
        #[arg(long = "var", value_parser = parse_variable)]
        variables: Vec<(String, String)>,
        /// Sender id (default: the server's default sender).
        #[arg(long)]
        sender: Option<String>,
        /// Send at this time (RFC 3339, e.g. 2026-01-08T13:00:00Z) instead of now.
        #[arg(long = "at")]
        send_at: Option<String>,
        /// Priority, 1–10 (higher first).
        #[arg(long)]
        priority: Option<u8>,
    },
    /// Cancel a message not yet attempted.
    Cancel {
        /// Message id.
        id: String,
    },
}

/// `NAME=VALUE`.
fn parse_variable(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

impl Client {
    /// Lists the tenant's single messages (`GET /api/v1/messages`), one page.
    pub async fn list_messages(&self, scheduled: bool, status: Option<&str>, limit: u32) -> Result<Value, ClientError> {
        let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if scheduled {
            query.push(("scheduled", "true".into()));
        }
        if let Some(status) = status {
            query.push(("status", status.to_owned()));
        }
        let builder = self.request(Method::GET, &["messages"]).query(&query);
        self.send(builder, "the message list").await
    }

    /// Accepts a single message (`POST /api/v1/messages`); answers its id and status.
    pub async fn send_message(&self, body: &Value) -> Result<Value, ClientError> {
        let build = || Ok(self.request(Method::POST, &["messages"]).json(body));
        self.send_create(build, "the message").await
    }

    /// Cancels a message not yet attempted (`DELETE /api/v1/messages/{id}`).
    pub async fn cancel_message(&self, id: &str) -> Result<Value, ClientError> {
        let builder = self.request(Method::DELETE, &["messages", id]);
        self.send(builder, &format!("cancel message {id}")).await
    }
}

/// Runs one message command; output goes to stdout, errors are returned as complete lines
/// starting with `error:`.
pub async fn run_message(client: &ClientArgs, cmd: MessageCommand) -> anyhow::Result<()> {
    let result = async {
        let api = Client::from_args(client)?;
        run_message_with(&api, cmd, &mut std::io::stdout(), client.json).await
    }
    .await;
    result.map_err(|err| {
        if err.to_string().starts_with("error:") {
            err
        } else {
            anyhow::anyhow!("error: {err:#}")
        }
    })
}

/// Runs one message command against `client`, writing to `out` (the server's JSON when
/// `json`).
pub async fn run_message_with<W: Write + Send>(
    client: &Client,
    cmd: MessageCommand,
    out: &mut W,
    json: bool,
) -> anyhow::Result<()> {
    let raw = match cmd {
        MessageCommand::List {
            scheduled,
            status,
            limit,
        } => {
            let page = client.list_messages(scheduled, status.as_deref(), limit).await?;
            if !json {
                write_messages(out, &page)?;
            }
            page
        }
        MessageCommand::Send {
            to,
            template,
            variables,
            sender,
            send_at,
            priority,
        } => {
            let variables: Map<String, Value> = variables.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let mut body = json!({"to": to, "template_id": template, "variables": variables});
            if let Some(sender) = sender {
                body["sender_id"] = json!(sender);
            }
            if let Some(at) = send_at {
                body["send_at"] = json!(at);
            }
            if let Some(priority) = priority {
                body["priority"] = json!(priority);
            }
            let accepted = client.send_message(&body).await?;
            if !json {
                writeln!(out, "message {} {}", text(&accepted["id"]), text(&accepted["status"]))?;
            }
            accepted
        }
        MessageCommand::Cancel { id } => {
            let message = client.cancel_message(&id).await?;
            if !json {
                writeln!(out, "message {} {}", text(&message["id"]), text(&message["status"]))?;
            }
            message
        }
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &raw)?;
        writeln!(out)?;
    }
    out.flush().context("writing the output")?;
    Ok(())
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}

/// A page of messages as a table.
fn write_messages<W: Write>(out: &mut W, page: &Value) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<12} {:<10} {:<16} {:<19} {:<19} {:>8}",
        "ID", "STATUS", "PHONE", "SEND AT", "NEXT ATTEMPT", "ATTEMPTS"
    )?;
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    for m in items {
        writeln!(
            out,
            "{:<12} {:<10} {:<16} {:<19} {:<19} {:>8}",
            text(&m["id"]),
            text(&m["status"]),
            text(&m["phone"]),
            format_time(m["send_at"].as_str()),
            format_time(m["next_attempt_at"].as_str()),
            text(&m["attempts"]),
        )?;
    }
    if let Some(cursor) = page["next_cursor"].as_str() {
        writeln!(out, "(more: next cursor {cursor})")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_name_equals_value() {
        assert_eq!(
            parse_variable("nombre=Juan Pérez"),
            Ok(("nombre".into(), "Juan Pérez".into()))
        );
        assert_eq!(parse_variable("monto=a=b"), Ok(("monto".into(), "a=b".into())));
        assert!(parse_variable("nombre").is_err());
        assert!(parse_variable("=x").is_err());
    }

    #[test]
    fn the_message_table_has_a_row_per_message() {
        let page = json!({"items": [
            {"id": "7", "status": "queued", "phone": "+584121234567", "send_at": "2999-02-01T10:00:00.000Z",
             "next_attempt_at": "2999-02-01T10:00:00.000Z", "attempts": 0}
        ], "next_cursor": "32503716000000:7"});
        let mut out = Vec::new();
        write_messages(&mut out, &page).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.starts_with("7 ") && row.contains("queued") && row.contains("2999-02-01 10:00:00"),
            "{row}"
        );
        assert!(text.ends_with("(more: next cursor 32503716000000:7)\n"), "{text}");
    }
}
