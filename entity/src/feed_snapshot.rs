//! `feed_snapshot`: the raw body of a feed a job parsed, zstd-compressed, kept so the job can
//! be replayed without asking the provider again (see `query::feed_snapshot`).

use std::io::{Read, Write};

use sea_orm::entity::prelude::*;

use crate::{JobId, ProviderId};

/// A stored body.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_snapshot")]
pub struct Model {
    /// The job that fetched and parsed it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: JobId,
    /// Its provider.
    pub provider_id: ProviderId,
    /// When it was stored.
    pub created_at: DateTimeUtc,
    /// The body's size as the parser read it.
    pub raw_bytes: i64,
    /// The size of `body`.
    pub stored_bytes: i64,
    /// One zstd frame of the body.
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub body: Vec<u8>,
}

/// Relations of a snapshot.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its job (the snapshot goes with it).
    #[sea_orm(
        belongs_to = "super::job::Entity",
        from = "Column::JobId",
        to = "super::job::Column::Id",
        on_delete = "Cascade"
    )]
    Job,
}

impl Related<super::job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// zstd's level for snapshots: its fastest standard level, which compresses generated feeds
/// as well as its default (3) does, a fifth faster (docs/benchmarks.md, "Feed snapshots").
pub const LEVEL: i32 = 1;

/// A body compressed as it is read, in pieces.
pub struct Compressor {
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
    raw_bytes: u64,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("raw_bytes", &self.raw_bytes)
            .finish_non_exhaustive()
    }
}

/// A compressed body.
#[derive(Clone, PartialEq, Eq)]
pub struct Compressed {
    /// The body's size.
    pub raw_bytes: u64,
    /// One zstd frame of it.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Compressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressed")
            .field("raw_bytes", &self.raw_bytes)
            .field("stored_bytes", &self.body.len())
            .finish()
    }
}

impl Compressor {
    /// A compressor at [`LEVEL`]; `None` if zstd cannot start one (out of memory).
    pub fn new() -> Option<Self> {
        Some(Self {
            encoder: zstd::stream::write::Encoder::new(Vec::new(), LEVEL).ok()?,
            raw_bytes: 0,
        })
    }

    /// Takes in the next piece of the body. Writing into memory does not fail; if zstd
    /// somehow does, the snapshot is given up (the body itself is not affected).
    pub fn write(&mut self, piece: &[u8]) -> std::io::Result<()> {
        self.raw_bytes += piece.len() as u64;
        self.encoder.write_all(piece)
    }

    /// The compressed body.
    pub fn finish(self) -> std::io::Result<Compressed> {
        Ok(Compressed {
            raw_bytes: self.raw_bytes,
            body: self.encoder.finish()?,
        })
    }
}

impl Compressed {
    /// Compresses `body` whole (tests, and bodies already in memory).
    pub fn of(body: &[u8]) -> std::io::Result<Self> {
        Ok(Self {
            raw_bytes: body.len() as u64,
            body: zstd::stream::encode_all(body, LEVEL)?,
        })
    }
}

/// A reader of the body stored in `frame`, decompressing as it is read (a stored body is
/// never inflated whole unless the reader asks for it whole).
pub fn decoder(frame: &[u8]) -> std::io::Result<impl Read + '_> {
    zstd::stream::read::Decoder::with_buffer(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_compressed_in_pieces_reads_back_whole() {
        let body: Vec<u8> = (0..500_000u32)
            .flat_map(|i| format!("<event id=\"{i}\"/>").into_bytes())
            .collect();
        let mut compressor = Compressor::new().unwrap();
        for piece in body.chunks(65_536) {
            compressor.write(piece).unwrap();
        }
        let compressed = compressor.finish().unwrap();
        assert_eq!(compressed.raw_bytes, body.len() as u64);
        assert!(compressed.body.len() * 5 < body.len(), "{compressed:?}");
        let mut back = Vec::new();
        decoder(&compressed.body)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        assert_eq!(
            Compressed::of(&body).unwrap().raw_bytes,
            compressed.raw_bytes
        );
    }
}
