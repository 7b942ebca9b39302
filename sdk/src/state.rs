//! Stack state: one JSON file per stack under `.palisade/`, written atomically after every operation,
//! guarded by a lock so that two runs never update the same stack at once.
//!
//! An operation is journalled (`pending`) before it starts; a run killed in the middle leaves the
//! entry behind, and the next run re-issues the create, which the provider answers by adopting the
//! resource it finds tagged with the URN instead of making a second one.

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
    /// Another run holds the stack's lock.
    #[error("stack `{stack}` is locked by another run ({holder}); wait for it, or remove {path} if that run is gone")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

/// The state of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackState {
    /// Format version.
    pub version: u32,
    /// The stack's name.
    pub stack: String,
    /// The account it deploys to.
    pub account_id: String,
    /// Its resources.
    pub resources: Vec<ResourceState>,
    /// Operations in flight when the state was last written.
    #[serde(default)]
    pub pending: Vec<PendingOperation>,
    /// Guardrail rules the user waived for the last `up`, by id.
    #[serde(default)]
    pub waivers: Vec<String>,
}

impl StackState {
    /// An empty state.
    pub fn new(stack: &str, account_id: &str) -> Self {
        Self {
            version: STATE_VERSION,
            stack: stack.to_string(),
            account_id: account_id.to_string(),
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

/// A held stack lock; released on drop.
#[derive(Debug)]
pub struct StackLock {
    path: PathBuf,
}

impl Drop for StackLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
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

    fn path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.json"))
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The stack's state, or an empty one when it has none yet.
    pub fn load(&self, stack: &str, account_id: &str) -> Result<StackState, StateError> {
        let path = self.path(stack);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StackState::new(stack, account_id)),
            Err(e) => return Err(Self::io(&path)(e)),
        };
        let state: StackState = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(StateError::Corrupt {
                path,
                reason: format!("format version {} is not {STATE_VERSION}", state.version),
            });
        }
        if state.account_id != account_id {
            return Err(StateError::Corrupt {
                path,
                reason: format!(
                    "it belongs to account {}, but the stack now targets {account_id}; move or delete it deliberately",
                    state.account_id
                ),
            });
        }
        Ok(state)
    }

    /// Writes the state atomically: a temporary file (mode 0600) is written and synced, then renamed
    /// over the old one, and the directory is synced.
    pub fn save(&self, state: &StackState) -> Result<(), StateError> {
        fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let path = self.path(&state.stack);
        let temp = self.dir.join(format!(".{}.json.tmp", state.stack));
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
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(Self::io(&self.dir))?;
        Ok(())
    }

    /// Takes the stack's lock, or says who holds it. A lock left by a process that no longer runs is
    /// taken over.
    pub fn lock(&self, stack: &str) -> Result<StackLock, StateError> {
        fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let path = self.dir.join(format!("{stack}.lock"));
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                Ok(mut file) => {
                    let _ = writeln!(file, "{}", std::process::id());
                    return Ok(StackLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                    let alive = holder
                        .parse::<u32>()
                        .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    if alive || holder.is_empty() {
                        return Err(StateError::Locked {
                            stack: stack.to_string(),
                            holder: format!("process {holder}"),
                            path,
                        });
                    }
                    // The holder died without releasing it.
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(Self::io(&path)(e)),
            }
        }
        Err(StateError::Locked {
            stack: stack.to_string(),
            holder: "a run that keeps re-taking it".into(),
            path,
        })
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

    #[test]
    fn saves_atomically_with_owner_only_permissions_and_loads_back() {
        let store = StateStore::new(temp_dir("save"));
        let mut state = StackState::new("dev", "111111111111");
        let mut outputs = map_from_json(&json!({"vpcId": "vpc-1"}));
        outputs.insert(
            "password".into(),
            PropertyValue::Secret(Box::new(PropertyValue::String("p".into()))),
        );
        state.upsert(ResourceState {
            urn: "urn:pulumi:dev::p::t::n".into(),
            token: "t".into(),
            package: "palisade-network".into(),
            id: "vpc-1".into(),
            inputs: json!({}),
            outputs: to_wire_json(&outputs),
            dependencies: vec![],
            protect: false,
        });
        store.save(&state).expect("save");
        let path = store.dir().join("dev.json");
        assert_eq!(fs::metadata(&path).expect("file").permissions().mode() & 0o777, 0o600);
        let loaded = store.load("dev", "111111111111").expect("load");
        assert_eq!(loaded, state);
        assert_eq!(
            loaded.resources[0].output_map(),
            outputs,
            "secrets survive the round trip"
        );
        assert!(
            store.load("dev", "222222222222").is_err(),
            "a state never moves accounts silently"
        );
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_released() {
        let store = StateStore::new(temp_dir("lock"));
        let lock = store.lock("dev").expect("first");
        let error = store.lock("dev").expect_err("second");
        assert!(error.to_string().contains("locked by another run"), "{error}");
        drop(lock);
        store.lock("dev").expect("after release");
    }

    #[test]
    fn a_lock_left_by_a_dead_process_is_taken_over() {
        let store = StateStore::new(temp_dir("stale"));
        fs::create_dir_all(store.dir()).expect("dir");
        fs::write(store.dir().join("dev.lock"), "4294967\n").expect("stale lock");
        store.lock("dev").expect("taken over");
    }
}
