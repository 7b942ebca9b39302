//! Stack state: one JSON file per project and stack under `.palisade/<project>/<stack>.json`, written
//! atomically after every operation, guarded by an operating-system file lock so that two runs never
//! update the same stack at once. A state names its project and account, and a program of another
//! project or for another account is refused, so two environments in the same accounts never touch
//! each other.
//!
//! An operation is journalled (`pending`) before it starts; a run killed in the middle leaves the
//! entry behind, and the next run resolves it before planning: a create is re-issued (the provider
//! adopts the resource it finds by URN tag or name instead of making a second one), an update or
//! delete is settled by reading the resource.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use palisade_provider_kit::value::{decode_struct, encode_struct, PropertyMap};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The format version of state files.
pub const STATE_VERSION: u32 = 1;

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid state.
    #[error("state file {path} is not valid Palisade state: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file belongs to another project or account.
    #[error("state file {path} belongs to {found}, not to {expected}; use another state directory (PALISADE_STATE_DIR) or move the file deliberately")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Whose it is (`project "a", stack "dev", account 111111111111`).
        found: String,
        /// Whose the program expected it to be.
        expected: String,
    },
    /// Another run holds the stack's lock.
    #[error("stack `{stack}` is locked by another run ({holder}); wait for it to finish")]
    Locked {
        /// The stack.
        stack: String,
        /// Who holds it.
        holder: String,
        /// The lock file.
        path: PathBuf,
    },
}

/// One resource as last seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceState {
    /// Its URN.
    pub urn: String,
    /// Its type token.
    #[serde(rename = "type")]
    pub token: String,
    /// The provider package.
    pub package: String,
    /// Its physical id.
    pub id: String,
    /// Its checked inputs (wire JSON: secrets and unknowns keep their markers).
    pub inputs: Json,
    /// Its outputs (wire JSON).
    pub outputs: Json,
    /// URNs it depends on.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Refuse to delete it.
    #[serde(default)]
    pub protect: bool,
    /// What replacing or deleting it destroys, if its kind holds data and the declaration did not
    /// opt out of protection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds_data: Option<String>,
}

impl ResourceState {
    /// The inputs as a property map.
    pub fn input_map(&self) -> PropertyMap {
        from_wire_json(&self.inputs)
    }

    /// The outputs as a property map.
    pub fn output_map(&self) -> PropertyMap {
        from_wire_json(&self.outputs)
    }
}

/// A property map as JSON that keeps the wire markers of secrets and unknowns.
pub fn to_wire_json(map: &PropertyMap) -> Json {
    let wire = encode_struct(map);
    fn value(v: &prost_types::Value) -> Json {
        use prost_types::value::Kind;
        match &v.kind {
            None | Some(Kind::NullValue(_)) => Json::Null,
            Some(Kind::BoolValue(b)) => Json::Bool(*b),
            Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n).map(Json::Number).unwrap_or(Json::Null),
            Some(Kind::StringValue(s)) => Json::String(s.clone()),
            Some(Kind::ListValue(l)) => Json::Array(l.values.iter().map(value).collect()),
            Some(Kind::StructValue(s)) => Json::Object(s.fields.iter().map(|(k, v)| (k.clone(), value(v))).collect()),
        }
    }
    Json::Object(wire.fields.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

/// The inverse of [`to_wire_json`].
pub fn from_wire_json(json: &Json) -> PropertyMap {
    fn value(j: &Json) -> prost_types::Value {
        use prost_types::value::Kind;
        let kind = match j {
            Json::Null => Kind::NullValue(0),
            Json::Bool(b) => Kind::BoolValue(*b),
            Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
            Json::String(s) => Kind::StringValue(s.clone()),
            Json::Array(items) => Kind::ListValue(prost_types::ListValue {
                values: items.iter().map(value).collect(),
            }),
            Json::Object(map) => Kind::StructValue(prost_types::Struct {
                fields: map.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
            }),
        };
        prost_types::Value { kind: Some(kind) }
    }
    match json {
        Json::Object(map) => decode_struct(&prost_types::Struct {
            fields: map.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
        }),
        _ => PropertyMap::new(),
    }
}

/// An operation started but not known to have finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingOperation {
    /// The resource's URN.
    pub urn: String,
    /// `create`, `update`, `delete`, or `delete-replaced <id>` for a replaced resource still to delete.
    pub operation: String,
    /// For `delete-replaced`: the replaced resource, so that a later run can delete it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<ResourceState>,
    /// For `create`: the checked inputs it was created with (wire JSON), so that a later run can
    /// ask the provider to find what it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Json>,
}

/// A guardrail rule waived for a run: which, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiver {
    /// The rule's id (`PAL-NET-01`).
    pub rule: String,
    /// When (UTC, RFC 3339); empty for waivers recorded before this was kept.
    #[serde(default)]
    pub at: String,
}

/// Reads a waiver either as recorded today or as the bare rule id older states hold.
fn waivers<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Waiver>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Recorded {
        Rule(String),
        Waiver(Waiver),
    }
    let recorded: Vec<Recorded> = Vec::deserialize(deserializer)?;
    Ok(recorded
        .into_iter()
        .map(|r| match r {
            Recorded::Rule(rule) => Waiver {
                rule,
                at: String::new(),
            },
            Recorded::Waiver(w) => w,
        })
        .collect())
}

/// The current time as RFC 3339 UTC (`2026-11-28T19:46:17Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The state of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackState {
    /// Format version.
    pub version: u32,
    /// The project the stack belongs to (empty in states written before projects were recorded).
    #[serde(default)]
    pub project: String,
    /// The stack's name.
    pub stack: String,
    /// The account it deploys to.
    pub account_id: String,
    /// The region its resources live in (empty in states written before regions were recorded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// Its resources.
    pub resources: Vec<ResourceState>,
    /// Operations in flight when the state was last written.
    #[serde(default)]
    pub pending: Vec<PendingOperation>,
    /// Guardrail rules the user waived, by id and time, every run's (they accumulate).
    #[serde(default, deserialize_with = "waivers")]
    pub waivers: Vec<Waiver>,
}

impl StackState {
    /// An empty state of `stack` in `project`, for account `account_id`.
    pub fn new(project: &str, stack: &str, account_id: &str) -> Self {
        Self {
            version: STATE_VERSION,
            project: project.to_string(),
            stack: stack.to_string(),
            account_id: account_id.to_string(),
            region: String::new(),
            resources: Vec::new(),
            pending: Vec::new(),
            waivers: Vec::new(),
        }
    }

    /// The resource with `urn`.
    pub fn get(&self, urn: &str) -> Option<&ResourceState> {
        self.resources.iter().find(|r| r.urn == urn)
    }

    /// Inserts or replaces the resource with the same URN.
    pub fn upsert(&mut self, resource: ResourceState) {
        match self.resources.iter_mut().find(|r| r.urn == resource.urn) {
            Some(existing) => *existing = resource,
            None => self.resources.push(resource),
        }
    }

    /// Removes the resource with `urn`.
    pub fn remove(&mut self, urn: &str) {
        self.resources.retain(|r| r.urn != urn);
    }
}

/// Where stack states live (`.palisade/` by default).
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

/// A held stack lock: an operating-system lock on the stack's lock file, released when this is
/// dropped or the process ends, however it ends.
#[derive(Debug)]
pub struct StackLock {
    _file: File,
}

impl StateStore {
    /// A store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, project: &str, stack: &str) -> PathBuf {
        self.dir.join(project).join(format!("{stack}.json"))
    }

    /// Where states lived before they were kept per project (`.palisade/<stack>.json`).
    fn legacy_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.json"))
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn read(path: &Path) -> Result<Option<StackState>, StateError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::io(path)(e)),
        };
        let state: StackState = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(StateError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("format version {} is not {STATE_VERSION}", state.version),
            });
        }
        Ok(Some(state))
    }

    /// The state of `stack` in `project`, or an empty one when it has none yet. A file that names
    /// another project, stack or account is refused, never silently used.
    pub fn load(&self, project: &str, stack: &str, account_id: &str) -> Result<StackState, StateError> {
        let path = self.path(project, stack);
        let state = match Self::read(&path)? {
            Some(state) => state,
            None => match self.legacy(project, stack)? {
                Some(state) => state,
                None => return Ok(StackState::new(project, stack, account_id)),
            },
        };
        let whose = |state: &StackState| {
            format!(
                "project `{}`, stack `{}`, account {}",
                state.project, state.stack, state.account_id
            )
        };
        let expected = StackState::new(project, stack, account_id);
        if state.project != project || state.stack != stack || state.account_id != account_id {
            return Err(StateError::Foreign {
                path,
                found: whose(&state),
                expected: whose(&expected),
            });
        }
        Ok(state)
    }

    /// Every stack state kept for `project`, ordered by stack name: what a program compares with
    /// the stacks it declares, to find stacks it no longer declares whose resources still exist.
    pub fn stacks(&self, project: &str) -> Result<Vec<StackState>, StateError> {
        let dir = self.dir.join(project);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io(&dir)(e)),
        };
        let mut states = Vec::new();
        for entry in entries {
            let path = entry.map_err(Self::io(&dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // Temporary files of an interrupted save start with a dot; locks end in `.lock`.
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            if let Some(state) = Self::read(&path)? {
                states.push(state);
            }
        }
        states.sort_by(|a, b| a.stack.cmp(&b.stack));
        Ok(states)
    }

    /// A state written before states were kept per project, if it is this project's: its
    /// resources' URNs name the project (a state without resources is anyone's).
    fn legacy(&self, project: &str, stack: &str) -> Result<Option<StackState>, StateError> {
        let Some(mut state) = Self::read(&self.legacy_path(stack))? else {
            return Ok(None);
        };
        let marker = format!("urn:pulumi:{stack}::{project}::");
        let ours = state.resources.iter().all(|r| r.urn.starts_with(&marker))
            && state.pending.iter().all(|p| p.urn.starts_with(&marker));
        if !ours || !state.project.is_empty() {
            return Ok(None);
        }
        state.project = project.to_string();
        Ok(Some(state))
    }

    /// Writes the state atomically: a temporary file (mode 0600) is written and synced, then renamed
    /// over the old one, and the directory is synced. A legacy file it came from is removed.
    pub fn save(&self, state: &StackState) -> Result<(), StateError> {
        let dir = self.dir.join(&state.project);
        fs::create_dir_all(&dir).map_err(Self::io(&dir))?;
        let path = self.path(&state.project, &state.stack);
        let temp = dir.join(format!(".{}.json.tmp", state.stack));
        let text = serde_json::to_vec_pretty(state).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(Self::io(&temp))?;
        file.write_all(&text).map_err(Self::io(&temp))?;
        file.sync_all().map_err(Self::io(&temp))?;
        fs::rename(&temp, &path).map_err(Self::io(&path))?;
        File::open(&dir).and_then(|d| d.sync_all()).map_err(Self::io(&dir))?;
        if self.legacy(&state.project, &state.stack)?.is_some() {
            let legacy = self.legacy_path(&state.stack);
            fs::remove_file(&legacy).map_err(Self::io(&legacy))?;
        }
        Ok(())
    }

    /// Takes the lock of `stack` in `project`, or says who holds it. The lock is the operating
    /// system's (`flock`), held for the run's lifetime and released by the OS when the process
    /// dies, so a killed run never leaves a stale lock and taking it is never check-then-act.
    pub fn lock(&self, project: &str, stack: &str) -> Result<StackLock, StateError> {
        let dir = self.dir.join(project);
        fs::create_dir_all(&dir).map_err(Self::io(&dir))?;
        let path = dir.join(format!("{stack}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(Self::io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                return Err(StateError::Locked {
                    stack: format!("{project}/{stack}"),
                    holder: if holder.is_empty() {
                        "a run that just started".into()
                    } else {
                        holder
                    },
                    path,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(Self::io(&path)(e)),
        }
        // Who holds it, for the message a second run shows.
        let holder = format!("process {}, since {}", std::process::id(), now_rfc3339());
        file.set_len(0).map_err(Self::io(&path))?;
        file.write_all(holder.as_bytes()).map_err(Self::io(&path))?;
        Ok(StackLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_provider_kit::value::{map_from_json, PropertyValue};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("palisade-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn resource(project: &str, name: &str) -> ResourceState {
        ResourceState {
            urn: format!("urn:pulumi:dev::{project}::palisade-network:index:Vpc::{name}"),
            token: "palisade-network:index:Vpc".into(),
            package: "palisade-network".into(),
            id: format!("vpc-{name}"),
            inputs: json!({}),
            outputs: json!({}),
            ..ResourceState::default()
        }
    }

    #[test]
    fn saves_atomically_with_owner_only_permissions_and_loads_back() {
        let store = StateStore::new(temp_dir("save"));
        let mut state = StackState::new("p", "dev", "111111111111");
        let mut outputs = map_from_json(&json!({"vpcId": "vpc-1"}));
        outputs.insert(
            "password".into(),
            PropertyValue::Secret(Box::new(PropertyValue::String("p".into()))),
        );
        state.upsert(ResourceState {
            outputs: to_wire_json(&outputs),
            ..resource("p", "n")
        });
        store.save(&state).expect("save");
        let path = store.dir().join("p").join("dev.json");
        assert_eq!(fs::metadata(&path).expect("file").permissions().mode() & 0o777, 0o600);
        let loaded = store.load("p", "dev", "111111111111").expect("load");
        assert_eq!(loaded, state);
        assert_eq!(
            loaded.resources[0].output_map(),
            outputs,
            "secrets survive the round trip"
        );
        let moved = store.load("p", "dev", "222222222222").expect_err("another account");
        assert!(
            moved
                .to_string()
                .contains("belongs to project `p`, stack `dev`, account 111111111111"),
            "a state never moves accounts silently: {moved}"
        );
    }

    #[test]
    fn projects_keep_separate_states_of_the_same_stack_name() {
        let store = StateStore::new(temp_dir("projects"));
        let mut a = StackState::new("env-a", "dev", "111111111111");
        a.upsert(resource("env-a", "a"));
        store.save(&a).expect("save a");
        let b = store.load("env-b", "dev", "111111111111").expect("load b");
        assert!(
            b.resources.is_empty(),
            "another project's stack of the same name starts empty"
        );
        assert_eq!(
            store.load("env-a", "dev", "111111111111").expect("a").resources.len(),
            1
        );
    }

    #[test]
    fn stacks_lists_a_projects_states_and_nothing_else() {
        let store = StateStore::new(temp_dir("stacks"));
        assert!(store.stacks("p").expect("no directory yet").is_empty());
        for stack in ["team-b", "dev", "team-a"] {
            let mut state = StackState::new("p", stack, "111111111111");
            state.upsert(resource("p", stack));
            store.save(&state).expect("save");
        }
        store
            .save(&StackState::new("other", "dev", "111111111111"))
            .expect("save");
        let _lock = store.lock("p", "dev").expect("lock");
        fs::write(store.dir().join("p/.dev.json.tmp"), "{").expect("an interrupted save");
        let stacks: Vec<String> = store.stacks("p").expect("lists").into_iter().map(|s| s.stack).collect();
        assert_eq!(stacks, ["dev", "team-a", "team-b"]);
    }

    #[test]
    fn a_file_naming_another_project_is_refused_with_where_and_whose() {
        let store = StateStore::new(temp_dir("foreign"));
        let mut a = StackState::new("env-a", "dev", "111111111111");
        a.upsert(resource("env-a", "a"));
        store.save(&a).expect("save");
        // Someone copied env-a's state into env-b's place.
        fs::create_dir_all(store.dir().join("env-b")).expect("dir");
        fs::copy(store.dir().join("env-a/dev.json"), store.dir().join("env-b/dev.json")).expect("copy");
        let error = store
            .load("env-b", "dev", "111111111111")
            .expect_err("refused")
            .to_string();
        assert!(error.contains("env-b/dev.json"), "{error}");
        assert!(error.contains("belongs to project `env-a`"), "{error}");
    }

    #[test]
    fn a_legacy_state_is_taken_only_by_its_own_project_and_moved() {
        let store = StateStore::new(temp_dir("legacy"));
        fs::create_dir_all(store.dir()).expect("dir");
        let mut old = StackState::new("", "dev", "111111111111");
        old.upsert(resource("env-a", "a"));
        fs::write(
            store.dir().join("dev.json"),
            serde_json::to_string(&old)
                .expect("json")
                .replace(r#""project":"","#, ""),
        )
        .expect("legacy file");
        assert!(store
            .load("env-b", "dev", "111111111111")
            .expect("b")
            .resources
            .is_empty());
        let a = store.load("env-a", "dev", "111111111111").expect("a");
        assert_eq!(a.resources.len(), 1);
        store.save(&a).expect("save");
        assert!(!store.dir().join("dev.json").exists(), "the legacy file moved");
        assert!(store.dir().join("env-a/dev.json").exists());
    }

    #[test]
    fn waivers_of_older_states_read_as_rules_without_a_time() {
        let json = json!({"version": 1, "stack": "dev", "accountId": "1", "resources": [], "waivers": ["PAL-NET-01"]});
        let state: StackState = serde_json::from_value(json).expect("old state");
        assert_eq!(
            state.waivers,
            vec![Waiver {
                rule: "PAL-NET-01".into(),
                at: String::new()
            }]
        );
        assert!(
            now_rfc3339().ends_with('Z') && now_rfc3339().len() == 20,
            "{}",
            now_rfc3339()
        );
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_released() {
        let store = StateStore::new(temp_dir("lock"));
        let lock = store.lock("p", "dev").expect("first");
        let error = store.lock("p", "dev").expect_err("second");
        assert!(error.to_string().contains("locked by another run"), "{error}");
        assert!(
            error.to_string().contains(&format!("process {}", std::process::id())),
            "{error}"
        );
        drop(lock);
        store.lock("p", "dev").expect("after release");
        store
            .lock("q", "dev")
            .expect("another project's stack of the same name");
    }

    #[test]
    fn a_lock_file_left_behind_is_no_lock() {
        let store = StateStore::new(temp_dir("stale"));
        fs::create_dir_all(store.dir().join("p")).expect("dir");
        fs::write(store.dir().join("p/dev.lock"), "process 4294967, since yesterday\n").expect("stale lock");
        store.lock("p", "dev").expect("a file nobody holds locked is free");
    }
}
