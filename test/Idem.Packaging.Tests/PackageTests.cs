using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Idem.Packaging.Tests;

/// <summary>
/// What a team installing Idem gets from each package: one version for the family, a description, tags, the license,
/// a README shown on the package page, the repository and commit it was built from, the assembly with its XML docs, and
/// a symbols package; and dependencies between the family's packages on that same version.
/// </summary>
public sealed partial class PackageTests(PackedFamily family) : IClassFixture<PackedFamily>
{
    public static TheoryData<string> Libraries => new(PackedFamily.Libraries);

    [Theory]
    [MemberData(nameof(Libraries))]
    public void Package_HasWhatAPackagePageAndADebuggerNeed(string id)
    {
        var (nuspec, entries, archive) = Open(id);
        using (archive)
        {
            var metadata = nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string? Value(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;

            Assert.Equal(id, Value("id"));
            Assert.Equal(FamilyVersion, Value("version"));
            Assert.True(Value("description")?.Length > 40, $"{id}: description '{Value("description")}'");
            Assert.Contains("idempotency", Value("tags")!.Split(' '));
            var license = metadata.Elements().Single(e => e.Name.LocalName == "license");
            Assert.Equal(("expression", "MIT"), (license.Attribute("type")?.Value, license.Value));

            // The README is the package page: present, and about this package.
            Assert.Equal("README.md", Value("readme"));
            using (var readme = new StreamReader(archive.GetEntry("README.md")!.Open()))
            {
                Assert.StartsWith("# " + id + "\n", readme.ReadToEnd(), StringComparison.Ordinal);
            }

            // SourceLink: the repository and the commit the package was built from.
            var repository = metadata.Elements().Single(e => e.Name.LocalName == "repository");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Matches(CommitPattern(), repository.Attribute("commit")?.Value ?? "");

            Assert.Contains($"lib/net10.0/{id}.dll", entries);
            Assert.Contains($"lib/net10.0/{id}.xml", entries);
        }

        using var symbols = ZipFile.OpenRead(Path.Combine(family.Folder, $"{id}.{FamilyVersion}.snupkg"));
        Assert.Contains(symbols.Entries, e => e.FullName == $"lib/net10.0/{id}.pdb");
    }

    [Theory]
    [MemberData(nameof(Libraries))]
    public void Package_DependsOnTheFamilyAtItsOwnVersion(string id)
    {
        var (nuspec, _, archive) = Open(id);
        using (archive)
        {
            var family = nuspec.Descendants().Where(e => e.Name.LocalName == "dependency" && e.Attribute("id")!.Value.StartsWith("Idem", StringComparison.Ordinal)).ToList();
            Assert.All(family, d => Assert.Equal(FamilyVersion, d.Attribute("version")!.Value));
            if (id != "Idem")
            {
                Assert.NotEmpty(family); // the engine, directly or through another package of the family
            }
        }
    }

    [Fact]
    public void Family_IsExactlyTheLibraries()
    {
        var packed = Directory.GetFiles(family.Folder, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(PackedFamily.Libraries.Select(l => $"{l}.{FamilyVersion}.nupkg").Order(StringComparer.Ordinal), packed);
    }

    // The version of the family: Idem's own package's.
    private string FamilyVersion
        => Path.GetFileName(Directory.GetFiles(family.Folder, "Idem.*.nupkg").Single(f => VersionOfIdem().IsMatch(Path.GetFileName(f))))[5..^6];

    private (XDocument Nuspec, HashSet<string> Entries, ZipArchive Archive) Open(string id)
    {
        var archive = ZipFile.OpenRead(Path.Combine(family.Folder, $"{id}.{FamilyVersion}.nupkg"));
        using var stream = archive.GetEntry($"{id}.nuspec")!.Open();
        return (XDocument.Load(stream), archive.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal), archive);
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();

    [GeneratedRegex(@"^Idem\.[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?\.nupkg$")]
    private static partial Regex VersionOfIdem();
}
