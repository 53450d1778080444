//! The SQL surface through a bundled SQLite: values, subtypes and errors.

use rusqlite::types::Value;
use rusqlite::Connection;

fn conn() -> Connection {
    let c = Connection::open_in_memory().expect("open");
    quiver_sqlite::register(&c).expect("register");
    c
}

fn value(c: &Connection, sql: &str) -> Value {
    c.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn error(c: &Connection, sql: &str) -> String {
    match c.query_row(sql, [], |r| r.get::<_, Value>(0)) {
        Ok(v) => panic!("{sql} should fail, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn known_values() {
    let c = conn();
    assert_eq!(
        value(&c, "select vec_to_json(vec_normalize('[2,3,1,-4]'))"),
        Value::Text("[0.365148,0.547723,0.182574,-0.730297]".into())
    );
    assert_eq!(
        value(
            &c,
            "select hex(vec_quantize_binary('[1,2,3,4,-5,-6,-7,-8]'))"
        ),
        Value::Text("0F".into())
    );
    assert_eq!(
        value(
            &c,
            "select vec_to_json(vec_quantize_int8('[0.1,-0.5,1,-1]','unit'))"
        ),
        Value::Text("[12,-64,126,-128]".into())
    );
    assert_eq!(
        value(&c, "select vec_distance_l2('[1,2]','[4,6]')"),
        Value::Real(5.0)
    );
    assert_eq!(
        value(&c, "select vec_distance_cosine('[0,0]','[1,2]')"),
        Value::Null
    );
    assert_eq!(
        value(
            &c,
            "select vec_distance_l1(vec_int8('[1,2]'),vec_int8('[4,6]'))"
        ),
        Value::Integer(7)
    );
    assert_eq!(
        value(&c, "select vec_distance_dot('[1,2]','[3,4]')"),
        Value::Real(-11.0)
    );
    assert_eq!(
        value(
            &c,
            "select vec_distance_hamming(vec_bit(X'0F'), vec_bit(X'F0'))"
        ),
        Value::Real(8.0)
    );
}

#[test]
fn subtypes_carry_the_element_type() {
    let c = conn();
    assert_eq!(
        value(&c, "select vec_type(vec_int8('[1]'))"),
        Value::Text("int8".into())
    );
    assert_eq!(
        value(&c, "select vec_type(vec_bit(X'01'))"),
        Value::Text("bit".into())
    );
    assert_eq!(
        value(&c, "select vec_type(X'00000000')"),
        Value::Text("float32".into())
    );
    assert_eq!(
        value(&c, "select vec_length(vec_bit(X'0101'))"),
        Value::Integer(16)
    );
}

#[test]
fn vec_each_rows() {
    let c = conn();
    let mut stmt = c
        .prepare("select rowid, value from vec_each(vec_int8('[3,-4]'))")
        .unwrap();
    let rows: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![(0, 3), (1, -4)]);
}

#[test]
fn errors_name_function_argument_and_values() {
    let c = conn();
    assert!(error(&c, "select vec_f32('[1,2')").contains("vec_f32: argument 1"));
    let m = error(&c, "select vec_distance_l2('[1,2]','[1,2,3]')");
    assert!(m.contains("2 dimensions (argument 1)") && m.contains("3 dimensions (argument 2)"));
    assert!(error(&c, "select vec_int8('[300]')").contains("300"));
    assert!(error(&c, "select vec_add(vec_int8('[127]'), vec_int8('[1]'))").contains("128"));
    assert!(error(&c, "select vec_f32(NULL)").contains("got NULL"));
    assert!(error(&c, "select * from vec_each('[')").contains("vec_each"));
}

#[test]
fn register_twice_is_harmless() {
    let c = conn();
    quiver_sqlite::register(&c).unwrap();
    assert_eq!(value(&c, "select vec_length('[1,2,3]')"), Value::Integer(3));
}
