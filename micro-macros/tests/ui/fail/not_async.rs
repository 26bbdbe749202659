use micro_runtime::{Context, Result};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Word {
    pub w: String,
}

pub struct Calc;

#[micro_runtime::service]
impl Calc {
    fn upper(&self, _ctx: Context, req: Word) -> Result<Word> {
        Ok(req)
    }
}

fn main() {}
