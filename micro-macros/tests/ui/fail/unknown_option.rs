use micro_runtime::{Context, Result};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Word {
    pub w: String,
}

pub struct Calc;

#[micro_runtime::service]
impl Calc {
    #[micro(idempotnet)]
    async fn upper(&self, _ctx: Context, req: Word) -> Result<Word> {
        Ok(req)
    }

    #[micro(timeout = "soon")]
    async fn lower(&self, _ctx: Context, req: Word) -> Result<Word> {
        Ok(req)
    }
}

fn main() {}
