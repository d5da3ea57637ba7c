"""Getting data in: file importers (CSV / XLSX / GeoJSON) and the station and device registry."""
