//! JSON output of the CLI.

/// Prints JSON with snake_case keys, the convention of command-line tools' JSON (the IPC types
/// are camelCase for the UI).
pub fn print_json<T: serde::Serialize>(v: &T) {
    let value = snake_keys(serde_json::to_value(v).expect("serialisable"));
    println!(
        "{}",
        serde_json::to_string_pretty(&value).expect("serialisable")
    );
}

fn snake_keys(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (snake(&k), snake_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(snake_keys).collect()),
        other => other,
    }
}

fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_keys_become_snake_case() {
        let v =
            super::snake_keys(serde_json::json!({"containerId": "x", "list": [{"createdAt": 1}]}));
        assert_eq!(
            v,
            serde_json::json!({"container_id": "x", "list": [{"created_at": 1}]})
        );
    }
}
