using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace Idem.EntityFrameworkCore.Tests.Model;

/// <summary>The mapping's names, without a database.</summary>
public sealed class KeysMappingTests
{
    [Theory]
    [InlineData("sqlite_keys")]
    [InlineData("1keys")]
    [InlineData("idem-keys")]
    public void AddSqliteIdempotencyKeys_NameTheStoreRefuses_Throws(string tableName)
        => Assert.Throws<ArgumentException>(() => new ModelBuilder().AddSqliteIdempotencyKeys(tableName));

    [Theory]
    [InlineData("pg_idem", "idem_keys")]
    [InlineData("public", "a_table_name_longer_than_fifty_one_characters_xxxxxxx")]
    public void AddPostgresIdempotencyKeys_NameTheStoreRefuses_Throws(string schema, string tableName)
        => Assert.Throws<ArgumentException>(() => new ModelBuilder().AddPostgresIdempotencyKeys(schema, tableName));

    [Fact]
    public void AddPostgresIdempotencyKeys_MapsTheStoresTableNames()
    {
        var modelBuilder = new ModelBuilder();
        modelBuilder.AddPostgresIdempotencyKeys("billing", "keys");

        var keys = modelBuilder.Model.FindEntityType(IdempotencyModelBuilderExtensions.IdempotencyKeysEntityName("billing", "keys"))!;
        Assert.Equal("keys", keys.GetTableName());
        Assert.Equal("billing", keys.GetSchema());
        Assert.Equal("keys_pkey", keys.FindPrimaryKey()!.GetName());
        Assert.Equal("keys_expires_at", Assert.Single(keys.GetIndexes()).GetDatabaseName());
        Assert.Equal(13, keys.GetProperties().Count());
    }
}
