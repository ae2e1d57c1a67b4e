using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;

namespace Idem.EntityFrameworkCore.Tests.Model;

/// <summary>What a first migration of the model runs: the differences from an empty model, as the provider writes them.</summary>
internal static class Migrations
{
    public static async Task<string> ApplyInitialAsync(DbContext db)
    {
        var model = db.GetService<IDesignTimeModel>().Model;
        var operations = db.GetService<IMigrationsModelDiffer>().GetDifferences(null, model.GetRelationalModel());
        var commands = db.GetService<IMigrationsSqlGenerator>().Generate(operations, model);
        await db.GetService<IMigrationCommandExecutor>().ExecuteNonQueryAsync(commands, db.GetService<IRelationalConnection>());
        return string.Join("\n", commands.Select(c => c.CommandText));
    }
}
