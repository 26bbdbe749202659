//! `grpc.reflection.v1[alpha].ServerReflection/ServerReflectionInfo`: the
//! node's proto files, from its own `Debug.Describe`, for grpcurl, Postman
//! and reflection clients.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use prost::Message;

use super::GrpcServer;
use super::catalog::Catalog;
use super::reflection_pb::{
    ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse, ListServiceResponse,
    RequestKind, ResponseKind, ServerReflectionRequest, ServerReflectionResponse, ServiceResponse,
};
use super::route::{HEALTH_SERVICE, REFLECTION_SERVICES};
use crate::transport::IncomingBody;
use crate::{Error, Metadata, Result};

const NOT_FOUND: i32 = 5;
const INVALID_ARGUMENT: i32 = 3;

/// Answers each request of the stream in turn.
pub(crate) fn serve(
    server: Arc<GrpcServer>,
    metadata: Metadata,
    body: IncomingBody,
) -> BoxFuture<'static, Result<Option<Bytes>>> {
    Box::pin(async move {
        let IncomingBody::Stream { mut rx, tx } = body else {
            return Err(Error::internal("ServerReflectionInfo is a bidi stream"));
        };
        while let Some(message) = rx.recv().await? {
            let request = ServerReflectionRequest::decode(&message[..]).map_err(|e| {
                Error::bad_request(format!("ServerReflectionRequest does not decode: {e}"))
            })?;
            let catalog = server.catalog(&metadata).await?;
            let response = answer(&catalog, request);
            tx.send(response.encode_to_vec().into()).await?;
        }
        Ok(None)
    })
}

fn error(code: i32, message: String) -> ResponseKind {
    ResponseKind::Error(ErrorResponse {
        error_code: code,
        error_message: message,
    })
}

fn files(catalog: &Catalog, name: Option<&str>, what: impl FnOnce() -> String) -> ResponseKind {
    match name.and_then(|name| catalog.file_with_imports(name)) {
        Some(files) => ResponseKind::FileDescriptor(FileDescriptorResponse {
            file_descriptor_proto: files,
        }),
        None => error(NOT_FOUND, format!("{} not found", what())),
    }
}

/// The response to one request.
pub(crate) fn answer(
    catalog: &Catalog,
    request: ServerReflectionRequest,
) -> ServerReflectionResponse {
    let kind = match &request.message_request {
        Some(RequestKind::ListServices(_)) => {
            let mut names: Vec<String> = catalog.services().map(str::to_owned).collect();
            names.push(HEALTH_SERVICE.to_owned());
            names.extend(REFLECTION_SERVICES.iter().map(|s| (*s).to_owned()));
            ResponseKind::ListServices(ListServiceResponse {
                service: names
                    .into_iter()
                    .map(|name| ServiceResponse { name })
                    .collect(),
            })
        }
        Some(RequestKind::FileByFilename(name)) => {
            files(catalog, Some(name), || format!("file {name}"))
        }
        Some(RequestKind::FileContainingSymbol(symbol)) => {
            files(catalog, catalog.file_of_symbol(symbol), || {
                format!("symbol {symbol}")
            })
        }
        Some(RequestKind::FileContainingExtension(ext)) => files(
            catalog,
            catalog.file_of_extension(&ext.containing_type, ext.extension_number),
            || {
                format!(
                    "extension {} of {}",
                    ext.extension_number, ext.containing_type
                )
            },
        ),
        Some(RequestKind::AllExtensionNumbersOfType(message)) => {
            match catalog.extension_numbers(message) {
                Some(numbers) => ResponseKind::AllExtensionNumbers(ExtensionNumberResponse {
                    base_type_name: message.trim_start_matches('.').to_owned(),
                    extension_number: numbers,
                }),
                None => error(NOT_FOUND, format!("type {message} not found")),
            }
        }
        None => error(INVALID_ARGUMENT, "the request asks nothing".into()),
    };
    ServerReflectionResponse {
        valid_host: request.host.clone(),
        original_request: Some(request),
        message_response: Some(kind),
    }
}
