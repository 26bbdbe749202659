use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::Result;

type Hook = Arc<dyn Fn() -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// Hooks run in the order added; the first error stops the list.
#[derive(Clone, Default)]
pub(crate) struct HookList(Vec<Hook>);

impl HookList {
    pub(crate) fn push<F, Fut>(&mut self, hook: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.0.push(Arc::new(move || Box::pin(hook())));
    }

    pub(crate) async fn run(&self) -> Result<()> {
        for hook in &self.0 {
            hook().await?;
        }
        Ok(())
    }
}

/// The lifecycle hooks of a service.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) before_start: HookList,
    pub(crate) after_start: HookList,
    pub(crate) before_stop: HookList,
    pub(crate) after_stop: HookList,
}
