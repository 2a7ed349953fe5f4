//! The versioned schema migrations, embedded in the binary from `migrations/<backend>/*.sql`
//! and run at start by sqlx's migrator (which records applied versions and their checksums in
//! `_sqlx_migrations`, and refuses a database migrated by a newer build).

use std::{borrow::Cow, future::Future, pin::Pin};

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// Migrations embedded at compile time: (version, description, SQL).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Embedded(pub &'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send + 's>>
    {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The migrator of an embedded migration list.
pub(crate) async fn migrator(embedded: Embedded) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(embedded).await
}
