use micro_runtime::Context;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Word {
    pub w: String,
}

pub struct Calc;

#[micro_runtime::service]
impl Calc {
    async fn upper(&self, _ctx: Context, req: Word) -> Word {
        req
    }

    async fn lower(&self, _ctx: Context) -> micro_runtime::Result<Word> {
        Ok(Word { w: String::new() })
    }

    async fn mutate(&mut self, _ctx: Context, req: Word) -> micro_runtime::Result<Word> {
        Ok(req)
    }
}

fn main() {}
