use serde_json::{Value, json};

use super::{DIALECT, SchemaIndex};

fn thing() -> Value {
    let mut compiler = protox::Compiler::new(["../proto"]).unwrap();
    compiler.include_source_info(true).include_imports(true);
    compiler.open_file("describe_test.proto").unwrap();
    let fds = compiler.file_descriptor_set();
    SchemaIndex::new(&fds).schema("describe.v1.Thing").unwrap()
}

fn property(schema: &Value, name: &str) -> Value {
    let mut property = schema["properties"][name].clone();
    let object = property.as_object_mut().unwrap();
    object.remove("description");
    property
}

#[test]
fn the_root_is_an_object_of_json_names_with_its_comment() {
    let schema = thing();
    assert_eq!(schema["$schema"], DIALECT);
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["title"], "describe.v1.Thing");
    assert_eq!(
        schema["description"],
        "A thing with one field of every kind."
    );
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["properties"].as_object().unwrap().len(), 23);
    assert_eq!(
        schema["properties"]["displayName"]["description"],
        "Its name."
    );
    assert!(schema["properties"]["display_name"].is_null());
    assert!(schema.get("required").is_none());
}

#[test]
fn scalars_follow_the_proto3_json_mapping() {
    let schema = thing();
    assert_eq!(property(&schema, "displayName"), json!({"type": "string"}));
    assert_eq!(
        property(&schema, "count"),
        json!({"type": "string", "pattern": "^-?[0-9]+$"})
    );
    assert_eq!(
        property(&schema, "big"),
        json!({"type": "string", "pattern": "^[0-9]+$"})
    );
    assert_eq!(
        property(&schema, "small"),
        json!({"type": "integer", "minimum": -2147483648i64, "maximum": 2147483647})
    );
    assert_eq!(
        property(&schema, "payload"),
        json!({"type": "string", "contentEncoding": "base64"})
    );
    assert_eq!(property(&schema, "done"), json!({"type": "boolean"}));
    assert_eq!(property(&schema, "ratio"), json!({"type": "number"}));
}

#[test]
fn enums_are_their_value_names_with_value_comments() {
    let priority = thing()["properties"]["priority"].clone();
    assert_eq!(priority["type"], "string");
    assert_eq!(
        priority["enum"],
        json!(["PRIORITY_UNSPECIFIED", "PRIORITY_LOW", "PRIORITY_HIGH"])
    );
    assert_eq!(
        priority["description"],
        "How urgent a thing is.\n- `PRIORITY_UNSPECIFIED`: Not set.\n- `PRIORITY_HIGH`: Do it now."
    );
}

#[test]
fn repeated_fields_and_maps() {
    let schema = thing();
    assert_eq!(
        property(&schema, "tags"),
        json!({"type": "array", "items": {"type": "string"}})
    );
    assert_eq!(
        property(&schema, "scores"),
        json!({"type": "object", "additionalProperties":
            {"type": "integer", "minimum": -2147483648i64, "maximum": 2147483647}})
    );
    assert_eq!(
        property(&schema, "partsById"),
        json!({"type": "object",
            "additionalProperties": {"$ref": "#/$defs/describe.v1.Thing.Part"},
            "propertyNames": {"pattern": "^-?[0-9]+$"}})
    );
    assert_eq!(
        property(&schema, "parts"),
        json!({"type": "array", "items": {"$ref": "#/$defs/describe.v1.Thing.Part"}})
    );
}

#[test]
fn messages_are_defs_and_recursion_refers_back() {
    let schema = thing();
    assert_eq!(
        schema["properties"]["main"],
        json!({"$ref": "#/$defs/describe.v1.Thing.Part", "description": "The part it is made of."})
    );
    assert_eq!(
        property(&schema, "children"),
        json!({"type": "array", "items": {"$ref": "#"}})
    );
    let defs = schema["$defs"].as_object().unwrap();
    let names: Vec<&str> = defs.keys().map(String::as_str).collect();
    assert_eq!(names, ["describe.v1.Node", "describe.v1.Thing.Part"]);
    let node = &defs["describe.v1.Node"];
    assert_eq!(node["description"], "A recursive message.");
    assert_eq!(
        node["properties"]["children"],
        json!({"type": "array", "items": {"$ref": "#/$defs/describe.v1.Node"}})
    );
    assert_eq!(
        defs["describe.v1.Thing.Part"]["properties"]["id"],
        json!({"type": "string", "description": "Its id."})
    );
}

#[test]
fn oneof_members_are_marked_and_exclusive_and_optional_is_plain() {
    let schema = thing();
    let text = &schema["properties"]["text"];
    assert_eq!(text["x-oneof"], "choice");
    assert_eq!(
        text["description"],
        "The text choice.\n\nMember of oneof `choice`: set at most one of `text`, `number`."
    );
    assert_eq!(schema["properties"]["number"]["x-oneof"], "choice");
    assert_eq!(
        schema["dependentSchemas"],
        json!({"text": {"properties": {"number": false}},
               "number": {"properties": {"text": false}}})
    );
    assert_eq!(
        schema["properties"]["limit"],
        json!({"type": "integer", "minimum": -2147483648i64, "maximum": 2147483647,
               "description": "Present or absent, zero included."})
    );
}

#[test]
fn well_known_types_take_their_json_forms() {
    let schema = thing();
    assert_eq!(
        property(&schema, "created"),
        json!({"type": "string", "format": "date-time"})
    );
    assert_eq!(property(&schema, "ttl")["type"], "string");
    assert_eq!(property(&schema, "extra"), json!({"type": "object"}));
    assert_eq!(
        property(&schema, "maybe"),
        json!({"type": ["integer", "null"]})
    );
    assert_eq!(
        property(&schema, "note"),
        json!({"type": ["string", "null"]})
    );
    assert!(
        !schema["$defs"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("google."))
    );
}

#[test]
fn an_unknown_message_has_no_schema() {
    let fds = prost_types::FileDescriptorSet::default();
    assert!(SchemaIndex::new(&fds).schema("no.Such").is_none());
}

#[test]
fn proto2_required_fields_are_required() {
    let mut compiler = protox::Compiler::new(["../proto"]).unwrap();
    compiler.include_source_info(true);
    compiler.open_file("required_test.proto").unwrap();
    let fds = compiler.file_descriptor_set();
    let schema = SchemaIndex::new(&fds).schema("required.v1.Order").unwrap();
    assert_eq!(schema["required"], json!(["orderId", "lines"]));
    assert_eq!(
        schema["properties"]["lines"],
        json!({"$ref": "#/$defs/required.v1.Order.Line", "description": "The first line."})
    );
    assert_eq!(
        schema["$defs"]["required.v1.Order.Line"]["required"],
        json!(["sku"])
    );
}
