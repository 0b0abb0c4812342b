"""Word lists the reference data is made from (US cities, product categories, people's names)."""

# city, state, region, timezone, latitude, longitude, telephone area code
CITIES: tuple[tuple[str, str, str, str, float, float, str], ...] = (
    ("New York", "NY", "northeast", "America/New_York", 40.7128, -74.0060, "212"),
    ("Brooklyn", "NY", "northeast", "America/New_York", 40.6782, -73.9442, "718"),
    ("Boston", "MA", "northeast", "America/New_York", 42.3601, -71.0589, "617"),
    ("Philadelphia", "PA", "northeast", "America/New_York", 39.9526, -75.1652, "215"),
    ("Pittsburgh", "PA", "northeast", "America/New_York", 40.4406, -79.9959, "412"),
    ("Newark", "NJ", "northeast", "America/New_York", 40.7357, -74.1724, "973"),
    ("Atlanta", "GA", "southeast", "America/New_York", 33.7490, -84.3880, "404"),
    ("Miami", "FL", "southeast", "America/New_York", 25.7617, -80.1918, "305"),
    ("Orlando", "FL", "southeast", "America/New_York", 28.5384, -81.3789, "407"),
    ("Charlotte", "NC", "southeast", "America/New_York", 35.2271, -80.8431, "704"),
    ("Nashville", "TN", "southeast", "America/Chicago", 36.1627, -86.7816, "615"),
    ("Chicago", "IL", "midwest", "America/Chicago", 41.8781, -87.6298, "312"),
    ("Minneapolis", "MN", "midwest", "America/Chicago", 44.9778, -93.2650, "612"),
    ("Detroit", "MI", "midwest", "America/Detroit", 42.3314, -83.0458, "313"),
    ("Columbus", "OH", "midwest", "America/New_York", 39.9612, -82.9988, "614"),
    ("Milwaukee", "WI", "midwest", "America/Chicago", 43.0389, -87.9065, "414"),
    ("St. Louis", "MO", "midwest", "America/Chicago", 38.6270, -90.1994, "314"),
    ("Dallas", "TX", "south", "America/Chicago", 32.7767, -96.7970, "214"),
    ("Houston", "TX", "south", "America/Chicago", 29.7604, -95.3698, "713"),
    ("Austin", "TX", "south", "America/Chicago", 30.2672, -97.7431, "512"),
    ("San Antonio", "TX", "south", "America/Chicago", 29.4241, -98.4936, "210"),
    ("Denver", "CO", "mountain", "America/Denver", 39.7392, -104.9903, "303"),
    ("Salt Lake City", "UT", "mountain", "America/Denver", 40.7608, -111.8910, "801"),
    ("Phoenix", "AZ", "mountain", "America/Phoenix", 33.4484, -112.0740, "602"),
    ("Las Vegas", "NV", "west", "America/Los_Angeles", 36.1699, -115.1398, "702"),
    ("Los Angeles", "CA", "west", "America/Los_Angeles", 34.0522, -118.2437, "213"),
    ("San Diego", "CA", "west", "America/Los_Angeles", 32.7157, -117.1611, "619"),
    ("San Francisco", "CA", "west", "America/Los_Angeles", 37.7749, -122.4194, "415"),
    ("San Jose", "CA", "west", "America/Los_Angeles", 37.3382, -121.8863, "408"),
    ("Seattle", "WA", "west", "America/Los_Angeles", 47.6062, -122.3321, "206"),
    ("Portland", "OR", "west", "America/Los_Angeles", 45.5152, -122.6784, "503"),
)

# Relative city populations (how many stores a city gets).
CITY_WEIGHTS: tuple[float, ...] = (
    9, 5, 4, 5, 2, 2, 4, 4, 3, 3, 3, 7, 3, 3, 3, 2, 2, 5, 5, 4, 3, 3, 2, 4, 3, 7, 3, 3, 2, 3, 2,
)

# name, median list price in dollars, price spread (lognormal sigma), margin range, brands, nouns, adjectives
CATEGORIES: tuple[tuple[str, float, float, tuple[float, float], tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("grocery", 4.5, 0.6, (0.18, 0.35), ("Harvest Lane", "Green Acre", "Daily Pantry", "Golden Field"),
     ("pasta", "rice", "cereal", "granola", "peanut butter", "olive oil", "coffee", "tea", "crackers", "soup"),
     ("organic", "whole grain", "classic", "family size", "low sodium", "gluten free")),
    ("beverages", 3.5, 0.5, (0.20, 0.40), ("Bubble Co", "Clearspring", "Sunburst", "Peak"),
     ("sparkling water", "orange juice", "cola", "iced tea", "energy drink", "cold brew", "kombucha"),
     ("zero sugar", "12 pack", "classic", "lemon", "berry", "original")),
    ("household", 8.0, 0.6, (0.25, 0.45), ("Brightway", "Homeline", "PureNest"),
     ("paper towels", "dish soap", "laundry detergent", "trash bags", "sponges", "all purpose cleaner"),
     ("ultra", "lavender", "unscented", "mega roll", "eco", "heavy duty")),
    ("personal care", 7.5, 0.6, (0.30, 0.55), ("Lumen", "Verde", "Silkline", "Dermacare"),
     ("shampoo", "conditioner", "body wash", "toothpaste", "deodorant", "razor", "sunscreen"),
     ("sensitive", "fresh", "moisturizing", "travel size", "charcoal", "mint")),
    ("beauty", 16.0, 0.6, (0.45, 0.65), ("Aurelle", "Glowe", "Maison Rose"),
     ("lipstick", "mascara", "face serum", "moisturizer", "nail polish", "eyeliner"),
     ("matte", "hydrating", "waterproof", "vitamin c", "long wear", "nude")),
    ("apparel", 28.0, 0.6, (0.50, 0.70), ("Northbound", "Urban Thread", "Coastline", "Stride"),
     ("t-shirt", "hoodie", "jeans", "socks", "rain jacket", "leggings", "flannel shirt"),
     ("slim fit", "cotton", "fleece", "relaxed", "merino", "striped")),
    ("footwear", 60.0, 0.5, (0.45, 0.65), ("Stride", "Trailmark", "Cloudstep"),
     ("running shoes", "sneakers", "boots", "sandals", "slippers", "hiking shoes"),
     ("lightweight", "waterproof", "classic", "trail", "cushioned", "leather")),
    ("electronics", 65.0, 1.0, (0.12, 0.30), ("Voltix", "Sonique", "Pixelon", "Nimbus"),
     ("wireless earbuds", "phone charger", "bluetooth speaker", "usb cable", "smart watch", "headphones",
      "power bank", "hdmi cable", "tablet", "keyboard"),
     ("wireless", "fast charging", "noise cancelling", "portable", "pro", "mini")),
    ("home", 25.0, 0.8, (0.40, 0.60), ("Hearth & Co", "Linenry", "Oakhaven"),
     ("bath towel", "throw blanket", "candle", "picture frame", "pillow", "storage bin", "mug set"),
     ("cozy", "scented", "cotton", "modern", "large", "ceramic")),
    ("toys", 20.0, 0.7, (0.35, 0.55), ("Playwell", "Brickworks", "Wonderbox"),
     ("building set", "puzzle", "board game", "plush bear", "toy car", "art kit"),
     ("deluxe", "junior", "classic", "glow in the dark", "1000 piece", "family")),
    ("sports", 30.0, 0.8, (0.35, 0.55), ("Apex", "Trailmark", "Corefit"),
     ("yoga mat", "water bottle", "dumbbells", "resistance bands", "basketball", "tent"),
     ("insulated", "non slip", "adjustable", "pro", "lightweight", "outdoor")),
)

# Relative share of the catalog per category.
CATEGORY_WEIGHTS: tuple[float, ...] = (20, 10, 9, 9, 7, 12, 5, 8, 9, 5, 6)

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Wei", "Emily",
    "Luis", "Maria", "Kevin", "Michelle", "Brian", "Amanda", "Jose", "Melissa", "Ryan", "Stephanie",
    "Priya", "Aisha", "Omar", "Mei", "Hiro", "Sofia", "Diego", "Fatima", "Noah", "Olivia",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Patel", "Kim", "Chen", "Khan", "Singh", "Cohen", "Murphy", "Rivera", "Cooper", "Reed",
)
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.45), ("yahoo.com", 0.14), ("outlook.com", 0.12), ("icloud.com", 0.12),
    ("hotmail.com", 0.07), ("aol.com", 0.04), ("proton.me", 0.03), ("comcast.net", 0.03),
)
