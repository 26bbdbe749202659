use micro_runtime::{Context, Receiver, Result, Sender};

#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct Num {
    #[prost(int64, tag = "1")]
    pub n: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Word {
    pub w: String,
}

pub struct Calc;

#[micro_runtime::service]
impl Calc {
    /// Doubles.
    #[micro(idempotent, timeout = "250ms")]
    async fn double(&self, _ctx: Context, req: Num) -> Result<Num> {
        Ok(Num { n: req.n * 2 })
    }

    async fn upper(&self, _ctx: Context, req: Word) -> micro_runtime::Result<Word> {
        Ok(Word { w: req.w.to_uppercase() })
    }

    async fn countdown(&self, _ctx: Context, req: Num, tx: Sender<Num>) -> Result<()> {
        for n in (0..req.n).rev() {
            tx.send(Num { n }).await?;
        }
        Ok(())
    }

    async fn total(&self, _ctx: Context, mut rx: Receiver<Num>) -> Result<Num> {
        let mut n = 0;
        while let Some(m) = rx.recv().await? {
            n += m.n;
        }
        Ok(Num { n })
    }

    #[micro(name = "Mirror")]
    async fn echo(&self, _ctx: Context, mut rx: Receiver<Num>, tx: Sender<Num>) -> Result<()> {
        while let Some(m) = rx.recv().await? {
            tx.send(m).await?;
        }
        Ok(())
    }

    #[micro(skip)]
    fn helper(&self) -> i64 {
        1
    }
}

fn main() {
    let names: Vec<&str> = CalcClient::ENDPOINTS.iter().map(|e| e.name).collect();
    assert_eq!(names, ["Calc.Double", "Calc.Upper", "Calc.Countdown", "Calc.Total", "Calc.Mirror"]);
    let double = &CalcClient::ENDPOINTS[0];
    assert!(double.idempotent);
    assert_eq!(double.timeout, Some(std::time::Duration::from_millis(250)));
    assert_eq!(double.docs, "Doubles.");
    let _ = Calc.helper();
    let _: fn(Calc) -> micro_runtime::server::Handler =
        <Calc as micro_runtime::server::IntoHandler>::into_handler;
}
