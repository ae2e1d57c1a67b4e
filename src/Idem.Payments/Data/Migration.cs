namespace Idem.Payments.Data;

/// <summary>One schema change, applied once (recorded in <c>schema_migrations</c>) and never edited after release.</summary>
internal sealed record Migration(int Version, string Name, string Sql);
