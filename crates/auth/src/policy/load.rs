//! Reading the schema and policy files and validating them, with errors that name the file,
//! line and column.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use thiserror::Error;

/// The schema's file name inside a policy directory.
pub const SCHEMA_FILE: &str = "pitboss.cedarschema";

/// The policies compiled into the binary: the repository's `policies/` directory.
const DEFAULT_SCHEMA: &str = include_str!("../../../../policies/pitboss.cedarschema");
const DEFAULT_POLICIES: &[(&str, &str)] = &[
    ("roles.cedar", include_str!("../../../../policies/roles.cedar")),
    ("api_keys.cedar", include_str!("../../../../policies/api_keys.cedar")),
];

/// Where the policies come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The files compiled into the binary.
    Defaults,
    /// `<dir>/pitboss.cedarschema` and every `<dir>/*.cedar`.
    Dir(PathBuf),
}

/// One policy file's name and text.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Error)]
pub enum PolicyError {
    #[error("cannot read the policy directory {dir}: {message}")]
    Read { dir: String, message: String },
    #[error("{file}: the schema is not valid: {message}")]
    Schema { file: String, message: String },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    #[error("{file}:{line}:{column}: policy `{policy}` does not fit the schema: {message}")]
    Invalid { file: String, line: usize, column: usize, policy: String, message: String },
    #[error(
        "{file}: policy number {index} has no @id(\"...\") annotation; give every policy a unique id, which decisions and the audit log name"
    )]
    MissingId { file: String, index: usize },
    #[error("{file}: the policy id `{policy}` is used twice; policy ids must be unique across all files")]
    DuplicateId { file: String, policy: String },
    #[error("{dir}: there are no policies (*.cedar files); without them every request would be refused")]
    NoPolicies { dir: String },
    /// Several problems at once, so that one check shows them all.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<PolicyError>),
}

pub(super) struct Loaded {
    pub set: PolicySet,
    pub schema: Schema,
    pub origin: String,
}

pub(super) fn load(source: &PolicySource) -> Result<Loaded, PolicyError> {
    let (schema_text, files, origin) = match source {
        PolicySource::Defaults => (
            DEFAULT_SCHEMA.to_string(),
            DEFAULT_POLICIES.iter().map(|(n, t)| PolicyFile { name: n.to_string(), text: t.to_string() }).collect(),
            "built-in policies".to_string(),
        ),
        PolicySource::Dir(dir) => {
            let (schema, files) = read_dir(dir)?;
            (schema, files, dir.display().to_string())
        }
    };
    let (set, schema) = compile(&schema_text, &files)?;
    if set.policies().next().is_none() {
        return Err(PolicyError::NoPolicies { dir: origin });
    }
    Ok(Loaded { set, schema, origin })
}

fn read_dir(dir: &Path) -> Result<(String, Vec<PolicyFile>), PolicyError> {
    let read_err = |e: std::io::Error| PolicyError::Read { dir: dir.display().to_string(), message: e.to_string() };
    let schema = std::fs::read_to_string(dir.join(SCHEMA_FILE))
        .map_err(|e| PolicyError::Read { dir: dir.display().to_string(), message: format!("{SCHEMA_FILE}: {e}") })?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "cedar"))
        .collect();
    names.sort();
    let files = names
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(read_err)?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(PolicyFile { name, text })
        })
        .collect::<Result<Vec<_>, PolicyError>>()?;
    Ok((schema, files))
}

/// Parses every file, gives each policy its `@id`, and validates the whole set strictly.
pub fn compile(schema_text: &str, files: &[PolicyFile]) -> Result<(PolicySet, Schema), PolicyError> {
    let (schema, _warnings) = Schema::from_cedarschema_str(schema_text).map_err(|e| {
        let (line, column) = first_location(&e, schema_text);
        PolicyError::Schema { file: SCHEMA_FILE.into(), message: format!("line {line}, column {column}: {}", full(&e)) }
    })?;
    let mut set = PolicySet::new();
    let mut errors = Vec::new();
    // The file each policy came from, to place validation errors.
    let mut origin: Vec<(String, usize)> = Vec::new();
    for (file_index, file) in files.iter().enumerate() {
        let parsed = match PolicySet::from_str(&file.text) {
            Ok(parsed) => parsed,
            Err(e) => {
                let (line, column) = first_location(&e, &file.text);
                errors.push(PolicyError::Syntax { file: file.name.clone(), line, column, message: full(&e) });
                continue;
            }
        };
        for (index, policy) in parsed.policies().enumerate() {
            let Some(id) = policy.annotation("id") else {
                errors.push(PolicyError::MissingId { file: file.name.clone(), index: index + 1 });
                continue;
            };
            let renamed = policy.new_id(PolicyId::new(id));
            if set.add(renamed).is_err() {
                errors.push(PolicyError::DuplicateId { file: file.name.clone(), policy: id.to_string() });
                continue;
            }
            origin.push((id.to_string(), file_index));
        }
    }
    if !errors.is_empty() {
        return Err(many(errors));
    }
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    for e in result.validation_errors() {
        let policy = e.policy_id().to_string();
        let file = origin.iter().find(|(id, _)| *id == policy).map(|(_, i)| &files[*i]);
        let (name, (line, column)) = match file {
            Some(f) => (f.name.clone(), first_location(e, &f.text)),
            None => ("?".to_string(), (0, 0)),
        };
        errors.push(PolicyError::Invalid { file: name, line, column, policy, message: full(e) });
    }
    if !errors.is_empty() {
        return Err(many(errors));
    }
    Ok((set, schema))
}

fn many(mut errors: Vec<PolicyError>) -> PolicyError {
    if errors.len() == 1 { errors.remove(0) } else { PolicyError::Many(errors) }
}

/// The message with its help text, which for Cedar often says how to fix it.
fn full(e: &dyn Diagnostic) -> String {
    match e.help() {
        Some(help) => format!("{e} ({help})"),
        None => e.to_string(),
    }
}

/// The 1-based line and column of the first labelled span of a diagnostic (or of one of its
/// related diagnostics) within `text`; (0, 0) when it has none.
fn first_location(e: &dyn Diagnostic, text: &str) -> (usize, usize) {
    let offset = e.labels().and_then(|mut labels| labels.next()).map(|l| l.offset()).or_else(|| {
        e.related().and_then(|mut r| r.find_map(|d| d.labels().and_then(|mut l| l.next()))).map(|l| l.offset())
    });
    let Some(offset) = offset else { return (0, 0) };
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
