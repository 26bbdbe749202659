//! The messages of `grpc.reflection.v1` (grpc/reflection/v1/reflection.proto;
//! `v1alpha` has the same fields and numbers), by hand: a dozen small
//! messages do not warrant pulling a gRPC server crate.

/// `ServerReflectionRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ServerReflectionRequest {
    #[prost(string, tag = "1")]
    pub(crate) host: String,
    #[prost(oneof = "RequestKind", tags = "3, 4, 5, 6, 7")]
    pub(crate) message_request: Option<RequestKind>,
}

/// What a [`ServerReflectionRequest`] asks.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum RequestKind {
    /// The file of this name, and the files it imports.
    #[prost(string, tag = "3")]
    FileByFilename(String),
    /// The file defining this fully qualified symbol, and its imports.
    #[prost(string, tag = "4")]
    FileContainingSymbol(String),
    /// The file defining an extension.
    #[prost(message, tag = "5")]
    FileContainingExtension(ExtensionRequest),
    /// The extension numbers of a message type.
    #[prost(string, tag = "6")]
    AllExtensionNumbersOfType(String),
    /// The services served.
    #[prost(string, tag = "7")]
    ListServices(String),
}

/// `ExtensionRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ExtensionRequest {
    #[prost(string, tag = "1")]
    pub(crate) containing_type: String,
    #[prost(int32, tag = "2")]
    pub(crate) extension_number: i32,
}

/// `ServerReflectionResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ServerReflectionResponse {
    #[prost(string, tag = "1")]
    pub(crate) valid_host: String,
    #[prost(message, optional, tag = "2")]
    pub(crate) original_request: Option<ServerReflectionRequest>,
    #[prost(oneof = "ResponseKind", tags = "4, 5, 6, 7")]
    pub(crate) message_response: Option<ResponseKind>,
}

/// The answer in a [`ServerReflectionResponse`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum ResponseKind {
    #[prost(message, tag = "4")]
    FileDescriptor(FileDescriptorResponse),
    #[prost(message, tag = "5")]
    AllExtensionNumbers(ExtensionNumberResponse),
    #[prost(message, tag = "6")]
    ListServices(ListServiceResponse),
    #[prost(message, tag = "7")]
    Error(ErrorResponse),
}

/// `FileDescriptorResponse`: serialized `FileDescriptorProto`s.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct FileDescriptorResponse {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub(crate) file_descriptor_proto: Vec<Vec<u8>>,
}

/// `ExtensionNumberResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ExtensionNumberResponse {
    #[prost(string, tag = "1")]
    pub(crate) base_type_name: String,
    #[prost(int32, repeated, tag = "2")]
    pub(crate) extension_number: Vec<i32>,
}

/// `ListServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ListServiceResponse {
    #[prost(message, repeated, tag = "1")]
    pub(crate) service: Vec<ServiceResponse>,
}

/// `ServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ServiceResponse {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
}

/// `ErrorResponse`: a gRPC status code and its message.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ErrorResponse {
    #[prost(int32, tag = "1")]
    pub(crate) error_code: i32,
    #[prost(string, tag = "2")]
    pub(crate) error_message: String,
}
