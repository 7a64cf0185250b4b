; Inno Setup 6 script for Kiln on Windows (x64).
;
; Build on Windows, from the repository root:
;   py -3.11 -m pip install torch --index-url https://download.pytorch.org/whl/cpu    (CPU bundle; see ..\README.md)
;   py -3.11 -m pip install -e . pyinstaller==6.22.0
;   set KILN_WINDOWED=1 && py -3.11 packaging\build.py          -> dist\kiln\kiln.exe (no console window)
;   "%ProgramFiles(x86)%\Inno Setup 6\ISCC.exe" packaging\windows\kiln.iss   -> dist\kiln-0.1.0-cpu-setup-x64.exe
; For the CUDA bundle: install torch from the cu12x index instead and pass /DFlavor=cuda to ISCC.
; Note: with KILN_WINDOWED=1 the CLI commands (kiln.exe generate ...) print nothing to a console;
; build without it for a console-capable kiln.exe.

#define AppName "Kiln"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Flavor
  #define Flavor "cpu"
#endif
#define Root ".."+"\.."

[Setup]
AppId={{6B0E7C1A-3F0B-4C55-9A61-4B1D5C0F2E11}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion} ({#Flavor})
AppPublisher=Kiln developers
DefaultDirName={autopf}\Kiln
DefaultGroupName=Kiln
DisableProgramGroupPage=yes
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#Root}\dist
OutputBaseFilename=kiln-{#AppVersion}-{#Flavor}-setup-x64
SetupIconFile={#Root}\packaging\kiln.ico
UninstallDisplayIcon={app}\kiln.exe
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
ChangesAssociations=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "openwith"; Description: "Add Kiln to ""Open with"" for images"; GroupDescription: "Integration:"

[Files]
Source: "{#Root}\dist\kiln\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Kiln"; Filename: "{app}\kiln.exe"
Name: "{autodesktop}\Kiln"; Filename: "{app}\kiln.exe"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "Software\Classes\Applications\kiln.exe\shell\open\command"; ValueType: string; ValueData: """{app}\kiln.exe"" ""%1"""; Flags: uninsdeletekey; Tasks: openwith
Root: HKA; Subkey: "Software\Classes\Applications\kiln.exe\SupportedTypes"; ValueType: string; ValueName: ".png"; ValueData: ""; Tasks: openwith
Root: HKA; Subkey: "Software\Classes\Applications\kiln.exe\SupportedTypes"; ValueType: string; ValueName: ".jpg"; ValueData: ""; Tasks: openwith
Root: HKA; Subkey: "Software\Classes\Applications\kiln.exe\SupportedTypes"; ValueType: string; ValueName: ".jpeg"; ValueData: ""; Tasks: openwith
Root: HKA; Subkey: "Software\Classes\Applications\kiln.exe\SupportedTypes"; ValueType: string; ValueName: ".tif"; ValueData: ""; Tasks: openwith
Root: HKA; Subkey: "Software\Classes\Applications\kiln.exe\SupportedTypes"; ValueType: string; ValueName: ".tiff"; ValueData: ""; Tasks: openwith
Root: HKA; Subkey: "Software\Classes\Applications\kiln.exe\SupportedTypes"; ValueType: string; ValueName: ".webp"; ValueData: ""; Tasks: openwith
Root: HKA; Subkey: "Software\Classes\Applications\kiln.exe\SupportedTypes"; ValueType: string; ValueName: ".bmp"; ValueData: ""; Tasks: openwith

[Run]
Filename: "{app}\kiln.exe"; Description: "{cm:LaunchProgram,Kiln}"; Flags: nowait postinstall skipifsilent

; Models live in the Hugging Face cache (%USERPROFILE%\.cache\huggingface\hub) and settings in
; %APPDATA%\Kiln\Kiln.ini: neither is removed on uninstall, so a reinstall finds its models again.
