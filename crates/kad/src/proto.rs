//! The protobuf messages of `proto/kad.proto`, written as prost-build 0.14 generates
//! them (committed so that building needs no `protoc`). Unknown fields (py-libp2p's
//! signed `senderRecord`, for one) are skipped by prost when decoding.
#![allow(missing_docs, unreachable_pub, clippy::all)]

/// A record (GET_VALUE / PUT_VALUE).
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Record {
    #[prost(bytes = "vec", tag = "1")]
    pub key: ::prost::alloc::vec::Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: ::prost::alloc::vec::Vec<u8>,
    #[prost(string, tag = "5")]
    pub time_received: ::prost::alloc::string::String,
    #[prost(bytes = "vec", tag = "666")]
    pub publisher: ::prost::alloc::vec::Vec<u8>,
    #[prost(uint32, tag = "777")]
    pub ttl: u32,
}

#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Message {
    #[prost(enumeration = "message::MessageType", tag = "1")]
    pub r#type: i32,
    #[prost(int32, tag = "10")]
    pub cluster_level_raw: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub key: ::prost::alloc::vec::Vec<u8>,
    #[prost(message, optional, tag = "3")]
    pub record: ::core::option::Option<Record>,
    #[prost(message, repeated, tag = "8")]
    pub closer_peers: ::prost::alloc::vec::Vec<message::Peer>,
    #[prost(message, repeated, tag = "9")]
    pub provider_peers: ::prost::alloc::vec::Vec<message::Peer>,
}

/// Nested message and enum types in `Message`.
pub mod message {
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct Peer {
        #[prost(bytes = "vec", tag = "1")]
        pub id: ::prost::alloc::vec::Vec<u8>,
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub addrs: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
        #[prost(enumeration = "ConnectionType", tag = "3")]
        pub connection: i32,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum MessageType {
        PutValue = 0,
        GetValue = 1,
        AddProvider = 2,
        GetProviders = 3,
        FindNode = 4,
        Ping = 5,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum ConnectionType {
        NotConnected = 0,
        Connected = 1,
        CanConnect = 2,
        CannotConnect = 3,
    }
}
