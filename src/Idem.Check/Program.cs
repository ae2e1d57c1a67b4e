using Idem.Check;

return await IdemCheckCommand.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
