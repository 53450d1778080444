//! Just enough of the protobuf wire format to read an ONNX graph's nodes and their
//! attributes (for the native linear-model path). Unknown fields are skipped; anything
//! malformed gives `None` (the caller then leaves the model to ONNX Runtime).

/// One attribute value of a node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attribute {
    pub name: String,
    pub f: Option<f32>,
    pub i: Option<i64>,
    pub s: Option<Vec<u8>>,
    pub floats: Vec<f32>,
    pub ints: Vec<i64>,
    pub strings: Vec<String>,
    /// A tensor or graph attribute (not read): such nodes are never handled natively.
    pub nested: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub op_type: String,
    pub domain: String,
    pub attributes: Vec<Attribute>,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// Number of initializers (weights stored as tensors).
    pub initializers: usize,
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

enum Field<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0 }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i)?;
            self.i += 1;
            out |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(out);
            }
        }
        None
    }

    /// The next (field number, value), or None at the end (or on malformed input,
    /// which `ok` then reports as false).
    fn next(&mut self, ok: &mut bool) -> Option<(u64, Field<'a>)> {
        if self.i >= self.b.len() {
            return None;
        }
        let Some(key) = self.varint() else {
            *ok = false;
            return None;
        };
        let field = key >> 3;
        let value = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                if self.i + 8 > self.b.len() {
                    *ok = false;
                    return None;
                }
                self.i += 8;
                Field::Fixed64
            }
            2 => {
                let Some(len) = self.varint() else {
                    *ok = false;
                    return None;
                };
                let len = usize::try_from(len).ok()?;
                let end = self.i.checked_add(len)?;
                if end > self.b.len() {
                    *ok = false;
                    return None;
                }
                let bytes = &self.b[self.i..end];
                self.i = end;
                Field::Bytes(bytes)
            }
            5 => {
                if self.i + 4 > self.b.len() {
                    *ok = false;
                    return None;
                }
                let v = u32::from_le_bytes([
                    self.b[self.i],
                    self.b[self.i + 1],
                    self.b[self.i + 2],
                    self.b[self.i + 3],
                ]);
                self.i += 4;
                Field::Fixed32(v)
            }
            _ => {
                *ok = false;
                return None;
            }
        };
        Some((field, value))
    }
}

fn text(b: &[u8]) -> Option<String> {
    String::from_utf8(b.to_vec()).ok()
}

fn attribute(b: &[u8]) -> Option<Attribute> {
    let mut a = Attribute::default();
    let mut r = Reader::new(b);
    let mut ok = true;
    while let Some((field, value)) = r.next(&mut ok) {
        match (field, value) {
            (1, Field::Bytes(v)) => a.name = text(v)?,
            (2, Field::Fixed32(v)) => a.f = Some(f32::from_bits(v)),
            (3, Field::Varint(v)) => a.i = Some(v as i64),
            (4, Field::Bytes(v)) => a.s = Some(v.to_vec()),
            (5 | 6 | 10 | 11 | 22 | 23, _) => a.nested = true,
            (7, Field::Fixed32(v)) => a.floats.push(f32::from_bits(v)),
            (7, Field::Bytes(v)) => {
                if v.len() % 4 != 0 {
                    return None;
                }
                a.floats.extend(
                    v.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            }
            (8, Field::Varint(v)) => a.ints.push(v as i64),
            (8, Field::Bytes(v)) => {
                let mut pr = Reader::new(v);
                while pr.i < v.len() {
                    a.ints.push(pr.varint()? as i64);
                }
            }
            (9, Field::Bytes(v)) => a.strings.push(text(v)?),
            _ => {}
        }
    }
    ok.then_some(a)
}

fn node(b: &[u8]) -> Option<Node> {
    let mut n = Node::default();
    let mut r = Reader::new(b);
    let mut ok = true;
    while let Some((field, value)) = r.next(&mut ok) {
        match (field, value) {
            (1, Field::Bytes(v)) => n.inputs.push(text(v)?),
            (2, Field::Bytes(v)) => n.outputs.push(text(v)?),
            (4, Field::Bytes(v)) => n.op_type = text(v)?,
            (5, Field::Bytes(v)) => n.attributes.push(attribute(v)?),
            (7, Field::Bytes(v)) => n.domain = text(v)?,
            _ => {}
        }
    }
    ok.then_some(n)
}

fn graph(b: &[u8]) -> Option<Graph> {
    let mut g = Graph::default();
    let mut r = Reader::new(b);
    let mut ok = true;
    while let Some((field, value)) = r.next(&mut ok) {
        match (field, value) {
            (1, Field::Bytes(v)) => g.nodes.push(node(v)?),
            (5, _) => g.initializers += 1,
            _ => {}
        }
    }
    ok.then_some(g)
}

/// The graph of an ONNX `ModelProto`.
pub fn model_graph(model: &[u8]) -> Option<Graph> {
    let mut r = Reader::new(model);
    let mut ok = true;
    let mut found = None;
    while let Some((field, value)) = r.next(&mut ok) {
        if let (7, Field::Bytes(v)) = (field, value) {
            found = Some(graph(v)?);
        }
    }
    if ok {
        found
    } else {
        None
    }
}

/// The protobuf messages of an ONNX model that can hold a tensor, for the file check.
#[derive(Clone, Copy)]
enum Message {
    Model,
    Graph,
    Function,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
}

/// How deep nested graphs may go before a model is refused (ONNX Runtime's own limit
/// on nested subgraphs is far below this).
const MAX_NESTING: usize = 64;

/// Checks that an ONNX model references no file: no tensor anywhere (initializers,
/// constants and attributes, in the main graph, subgraphs and functions) with
/// `data_location = EXTERNAL` or `external_data` entries. ONNX Runtime would read such
/// data from a path the model names, relative to the working directory when the model
/// comes from memory: a model stored in a database could read any file. Err describes
/// the reference (or why the model could not be checked).
pub fn check_no_file_references(model: &[u8]) -> Result<(), String> {
    walk(model, Message::Model, 0)
}

fn walk(b: &[u8], kind: Message, depth: usize) -> Result<(), String> {
    if depth > MAX_NESTING {
        return Err(format!("graphs nested more than {MAX_NESTING} deep"));
    }
    let mut r = Reader::new(b);
    let mut ok = true;
    let mut name = String::new();
    while let Some((field, value)) = r.next(&mut ok) {
        use Message::*;
        let child = match (kind, field, &value) {
            (Model, 7, _) | (Attribute, 6 | 11, _) => Some(Graph),
            (Model, 25, _) => Some(Function),
            (Graph, 1, _) | (Function, 7, _) => Some(Node),
            (Node, 5, _) => Some(Attribute),
            (Graph, 5, _) | (Attribute, 5 | 10, _) | (SparseTensor, 1 | 2, _) => Some(Tensor),
            (Graph, 15, _) | (Attribute, 22 | 23, _) => Some(SparseTensor),
            (Tensor, 8, Field::Bytes(v)) => {
                name = String::from_utf8_lossy(v).into_owned();
                None
            }
            (Tensor, 13, _) | (Tensor, 14, Field::Varint(1)) => {
                return Err(format!(
                    "tensor {name:?} keeps its data in an external file; a model must \
                     hold all of its data (save it with onnx.save_model(..., \
                     save_as_external_data=False))"
                ));
            }
            _ => None,
        };
        if let Some(child) = child {
            let Field::Bytes(v) = value else {
                return Err("malformed protobuf (a message field is not bytes)".to_string());
            };
            walk(v, child, depth + 1)?;
        }
    }
    if ok {
        Ok(())
    } else {
        Err("malformed protobuf".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, wire: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | wire) as u8];
        if wire == 2 {
            out.push(payload.len() as u8);
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_nodes_and_attributes() {
        // AttributeProto { name: "coefficients", floats: packed [1.5, -2] }
        let mut floats = Vec::new();
        floats.extend_from_slice(&1.5f32.to_le_bytes());
        floats.extend_from_slice(&(-2f32).to_le_bytes());
        let mut attr = field(1, 2, b"coefficients");
        attr.extend(field(7, 2, &floats));
        let mut ints_attr = field(1, 2, b"classlabels_ints");
        ints_attr.extend(field(8, 2, &[0, 1]));
        let mut node = field(1, 2, b"X");
        node.extend(field(2, 2, b"label"));
        node.extend(field(4, 2, b"LinearClassifier"));
        node.extend(field(5, 2, &attr));
        node.extend(field(5, 2, &ints_attr));
        node.extend(field(7, 2, b"ai.onnx.ml"));
        let graph = field(1, 2, &node);
        let mut model = field(1, 0, &[8]); // ir_version = 8 (a varint field, skipped)
        model.extend(field(7, 2, &graph));
        let g = model_graph(&model).unwrap();
        assert_eq!(g.nodes.len(), 1);
        let n = &g.nodes[0];
        assert_eq!(n.op_type, "LinearClassifier");
        assert_eq!(n.domain, "ai.onnx.ml");
        assert_eq!(n.inputs, ["X"]);
        assert_eq!(n.attr("coefficients").unwrap().floats, [1.5, -2.0]);
        assert_eq!(n.attr("classlabels_ints").unwrap().ints, [0, 1]);
        // Truncated input is refused, not misread.
        assert!(model_graph(&model[..model.len() - 3]).is_none());
        assert!(model_graph(b"not a protobuf \xff\xff").is_none());
    }

    #[test]
    fn external_data_is_found_anywhere() {
        // TensorProto { name: "w", data_location: EXTERNAL }
        let mut tensor = field(8, 2, b"w");
        tensor.extend(field(14, 0, &[1]));
        let in_graph = field(7, 2, &field(5, 2, &tensor));
        assert!(check_no_file_references(&in_graph)
            .unwrap_err()
            .contains("\"w\" keeps its data in an external file"));
        // A Constant node's tensor attribute inside a subgraph of a node attribute.
        let attr = field(5, 2, &tensor);
        let node = field(5, 2, &attr);
        let sub = field(1, 2, &node);
        let outer_attr = field(6, 2, &sub);
        let outer = field(7, 2, &field(1, 2, &field(5, 2, &outer_attr)));
        assert!(check_no_file_references(&outer).is_err());
        // data_location DEFAULT (0) is fine.
        let mut inline = field(8, 2, b"w");
        inline.extend(field(14, 0, &[0]));
        assert!(check_no_file_references(&field(7, 2, &field(5, 2, &inline))).is_ok());
        assert!(check_no_file_references(b"\xff\xff").is_err());
    }
}
