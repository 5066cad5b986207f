//! `shoal secret …` and `shoal config …`: the two kinds share their verbs; a secret's data
//! never shows (the managers never send it to a client).

use crate::{call, json_rows, objects};
use shoal_core::cli::{payload_op, PayloadCommand, PayloadVerb};
use shoal_core::control::PayloadKind;
use shoal_core::engine_api::convert;

pub async fn run(host: &str, kind: PayloadKind, cmd: PayloadCommand) -> Result<(), String> {
    match cmd {
        PayloadCommand::Create { labels, name, file } => {
            use std::io::Read;
            let mut data = Vec::new();
            let read = if file == "-" {
                std::io::stdin().read_to_end(&mut data).map(|_| ())
            } else {
                std::fs::File::open(&file).and_then(|mut f| f.read_to_end(&mut data)).map(|_| ())
            };
            read.map_err(|e| format!("Error reading content from {file:?}: {e}"))?;
            let r = call(host, PayloadCommand::create_request(kind, &name, &labels, data)?).await?;
            println!("{}", r.id);
        }
        PayloadCommand::Ls(shoal_core::cli::ListFlags { quiet, format }) => {
            let list: Vec<_> = objects(&call(host, payload_op(kind, PayloadVerb::List)).await?).iter().filter_map(convert::payload_to_docker).collect();
            let labels = |s: &shoal_core::engine_api::types::Secret| {
                s.spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
            };
            match format.as_deref() {
                Some(f) => {
                    let rows: Vec<Vec<String>> = list.iter().map(|s| vec![s.id.clone(), s.spec.name.clone(), labels(s), s.created_at.clone(), s.updated_at.clone()]).collect();
                    json_rows::print(f, &["ID", "Name", "Labels", "CreatedAt", "UpdatedAt"], &rows, &[])?;
                }
                None if quiet => list.iter().for_each(|s| println!("{}", s.id)),
                None => {
                    println!("{:<27}{:<32}LABELS", "ID", "NAME");
                    for s in &list {
                        println!("{:<27}{:<32}{}", s.id, s.spec.name, labels(s));
                    }
                }
            }
        }
        PayloadCommand::Inspect { pretty, names } => {
            let mut found = Vec::new();
            for k in names {
                found.extend(objects(&call(host, payload_op(kind, PayloadVerb::Get(k))).await?));
            }
            let out: Vec<_> = found.iter().filter_map(convert::payload_to_docker).collect();
            if !pretty {
                json_rows::inspect(&out);
                return Ok(());
            }
            for (k, (s, o)) in out.iter().zip(&found).enumerate() {
                if k > 0 {
                    println!();
                }
                println!("ID:              {}\nName:            {}", s.id, s.spec.name);
                if !s.spec.labels.is_empty() {
                    println!("Labels:");
                    s.spec.labels.iter().for_each(|(k, v)| println!(" - {k}={v}"));
                }
                println!("Created at:      {}\nUpdated at:      {}", s.created_at, s.updated_at);
                // A secret's data never reaches a client; a config's does.
                if let (Some(_), Some((_, _, spec))) = (&s.spec.data, shoal_core::control::payload_parts(o)) {
                    println!("Data:\n{}", String::from_utf8_lossy(&spec.data));
                }
            }
        }
        PayloadCommand::Rm { names } => {
            for k in names {
                call(host, payload_op(kind, PayloadVerb::Remove(k.clone()))).await?;
                println!("{k}");
            }
        }
    }
    Ok(())
}
